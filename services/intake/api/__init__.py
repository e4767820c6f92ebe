"""Intake's HTTP entry points, thin: parse, call the use case, answer.

- `referrals`: the agencies' API, `POST /v1/referrals` and `GET /v1/referrals/{referral_id}`;
- `operator`: the operators' API, `POST /operator/v1/referrals/{referral_id}/erasure`;
- `examples`: the worked submissions its OpenAPI document shows;
- `json_body`: the route class that validates a submission from the request's bytes, with
  FastAPI's own path (and its error answers) for anything else.

Error answers are the shared ones of `services.common.http_errors`.
"""

from services.intake.api.operator import add_operator_auth, add_operator_routes
from services.intake.api.referrals import add_referral_routes

__all__ = ["add_operator_auth", "add_operator_routes", "add_referral_routes"]
