"""The router: decides where each received referral goes, under a versioned rules file.

`domain/` is the pure core (facts, rules as data, `decide`); `engine.py` binds it to the rules
in force and the postcode directory; `cli.py` runs it offline; `app.py` runs it on Kafka.
"""
