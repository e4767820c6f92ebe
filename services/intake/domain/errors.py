"""How intake names the field at fault in its error reports, over HTTP and on Kafka.

Rules kept here:
- a field is a dotted path into the submission (`victim.safe_contact.phone`,
  `conduct.behaviours[2]`); an error about the body as a whole is `body`;
- a cross-field check names the field it is about (pydantic context `field`), not its parent;
- a key that is not a plain name (an unknown field called "", " " or "a.b") is shown quoted
  and cut short (`["\\r"]`), so that every field is non-empty and unambiguous;
- no error echoes an input value: the field path, a code and a message only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from shared import FieldError

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_WHERE = ("body", "header", "path", "query")


def field_path(loc: Sequence[Any]) -> str:
    """`("body", "victim", "postcode")` -> `victim.postcode`; `()` -> `body`."""
    parts = list(loc[1:]) if loc and loc[0] in _WHERE else list(loc)
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN.match(str(part)):
            path += f".{part}" if path else str(part)
        else:
            path += f"[{json.dumps(str(part)[:64])}]"
    return path or "body"


def _field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    out = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        extra = (err.get("ctx") or {}).get("field")
        if isinstance(extra, str):
            loc = (*loc, *extra.split("."))
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        out.append(
            FieldError(field=field_path(loc), code=str(err.get("type", "invalid")), message=message)
        )
    return out or [FieldError(field="body", code="invalid", message="is not valid")]


def validation_errors(exc: ValidationError) -> list[FieldError]:
    """The errors of a failed contract validation, each naming its field."""
    return _field_errors(exc.errors(include_url=False, include_input=False))


def request_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """The errors FastAPI reports for a request (`RequestValidationError.errors()`)."""
    return _field_errors(errors)
