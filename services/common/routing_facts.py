"""The routing facts of a sealed referral: what the router needs from its personal fields.

Rules kept here (../shared/domain.md; the router's `domain.facts` applies them to the result):
- intake derives them from the clear submission when it receives it, before sealing; the router
  never sees the date of birth or the postcode, only what they mean for routing;
- age is taken on the UK calendar date of the receipt instant (Europe/London): from the date
  of birth when given (it wins over a stated age), else the stated age; the birthday counts on
  its day, 29 February on 1 March in common years; a date of birth after that date gives none;
- the postcode's authority is the directory's answer for the full postcode (None when no
  postcode was given or the directory cannot place it); the given GSS code stays in the
  submission in clear, and the router weighs the two exactly as for a clear submission.
Pure: the directory is passed in.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from services.common.postcodes import PostcodeDirectory
from shared import ReferralSubmission, RoutingFacts

_UK: Final = ZoneInfo("Europe/London")


def uk_date(instant: datetime) -> date:
    """The calendar date in the UK at `instant`."""
    return instant.astimezone(_UK).date()


def age_on(born: date, day: date) -> int:
    """Whole years from `born` to `day`; the birthday is reached on its day (1 March for 29 Feb)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def routing_facts(
    submission: ReferralSubmission, received_at: datetime, postcodes: PostcodeDirectory
) -> RoutingFacts:
    """The routing facts of `submission` as received at `received_at`."""
    victim = submission.victim
    if victim.date_of_birth is not None:
        age: int | None = age_on(victim.date_of_birth, uk_date(received_at))
        source = "date_of_birth"
        if age is not None and age < 0:
            age, source = None, "date_of_birth_after_received"
    else:
        age, source = victim.age, "age"
    postcode = victim.postcode
    return RoutingFacts.model_validate(
        {
            "age": age,
            "age_source": source,
            "postcode_given": bool(postcode),
            "postcode_local_authority_code": postcodes.la_code(postcode) if postcode else None,
        }
    )
