"""The JSON Schemas checked in under schemas/ are those the models generate now."""

from __future__ import annotations

import json

from shared.schemas import DEFAULT_DIR, MODELS, json_schemas


def test_checked_in_schemas_are_current() -> None:
    for name, schema in json_schemas().items():
        path = DEFAULT_DIR / f"{name}.schema.json"
        assert path.exists(), f"{path} missing: run `make schemas`"
        assert json.loads(path.read_text()) == schema, f"{path} is stale: run `make schemas`"


def test_every_model_has_a_schema_with_its_required_fields() -> None:
    schemas = json_schemas()
    assert len(schemas) == len(MODELS)
    assert "submission_id" in schemas["ReferralSubmission"]["required"]
    assert schemas["Decision"]["properties"]["pathway"]
