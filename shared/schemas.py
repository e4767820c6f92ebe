"""JSON Schema of every contract model; `python -m shared.schemas [DIR]` writes them to DIR."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.events import (
    Assignment,
    Decision,
    DecisionRequestError,
    ProviderResponse,
    ReferralReceived,
    ReferralRejected,
    ThinAssignment,
)
from shared.ops import DeadLetter, OpsAlert, OpsEvent
from shared.submission import ReferralSubmission

MODELS: tuple[type[BaseModel], ...] = (
    ReferralSubmission,
    ReferralReceived,
    ReferralRejected,
    Decision,
    DecisionRequestError,
    Assignment,
    ThinAssignment,
    ProviderResponse,
    OpsEvent,
    OpsAlert,
    DeadLetter,
)

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "schemas"


def json_schemas() -> dict[str, dict[str, Any]]:
    """Model name -> its JSON Schema (validation mode: what a producer may send)."""
    return {model.__name__: model.model_json_schema() for model in MODELS}


def write_schemas(directory: Path = DEFAULT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    for path in write_schemas(target):
        print(path)
