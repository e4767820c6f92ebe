"""Fixtures only intake's tests use: the example submission as a model."""

from __future__ import annotations

from typing import Any

import pytest

from shared import ReferralSubmission


@pytest.fixture
def submission(example_submission: dict[str, Any]) -> ReferralSubmission:
    """The contract's example submission, validated."""
    return ReferralSubmission.model_validate(example_submission)
