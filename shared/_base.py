"""The base every contract model shares, and the errors that name a field.

Rules kept here:
- contract models are frozen and forbid unknown fields;
- a cross-field check raises `field_problem(...)`, which carries the name of the field at fault
  in its context, so that `field_errors` can report the full dotted path of that field rather
  than of the object holding it;
- a union's tag in an error's location (`UNION_TAGS`: which form of a field was read) is not
  part of the field's path;
- error reports never echo the input: they carry the field path, a code and a message only,
  because the input may be personal data.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

# The tags of the contract's tagged unions (shared.sealed.EitherSubmission), which pydantic puts
# in an error's location.
UNION_TAGS: Final = frozenset({"ReferralSubmission", "SealedSubmission"})


class ContractModel(BaseModel):
    """Frozen, strict-about-unknown-fields base of every contract model."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class FieldError(ContractModel):
    """One problem with one field: dotted path, machine code, and a message for a person."""

    field: str
    code: str
    message: str


def field_problem(field: str, code: str, message: str) -> PydanticCustomError:
    """An error about `field` of the model being validated (raise it from a model validator)."""
    return PydanticCustomError(code, message, {"field": field})


def _dotted(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if part in UNION_TAGS:
            continue  # which form of a field was read, not a field
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "(body)"


def field_errors(exc: ValidationError) -> list[FieldError]:
    """The errors of a failed validation, each naming its field, with no input echoed."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc: tuple[int | str, ...] = tuple(err["loc"])
        ctx: dict[str, Any] = err.get("ctx") or {}
        extra = ctx.get("field")
        if isinstance(extra, str):
            loc = (*loc, *extra.split("."))
        # pydantic prefixes the message of a ValueError raised by a validator; drop that noise.
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(FieldError(field=_dotted(loc), code=str(err["type"]), message=message))
    return out
