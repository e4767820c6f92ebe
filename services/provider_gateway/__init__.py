"""The provider gateway: turns decided referrals into assignments and delivers them.

It joins each referral's two halves (`referrals.received.v1`, `referrals.decided.v1`) into an
assignment for the decided provider, delivers it by signed webhook (Standard Webhooks 1.0)
and on `assignments.<provider>.v1`, retries with backoff from PostgreSQL, takes the providers'
answers (Kafka or HTTP), re-routes declines and missed deadlines to the lead provider, and
reports every step to ops by id and code only. `bootstrap.py` wires it; `app.py` is the process.
"""
