"""Intake's pure rules: what is accepted, what counts as the same submission."""

from services.intake.domain.acceptance import (
    Acceptance,
    IdempotencyConflict,
    IdempotencyKeyConflict,
    IntakeError,
    SubmissionConflict,
    SubmissionRefused,
    body_digest,
    clock_problems,
    received_event,
    received_ops_event,
    rejected_ops_event,
    text_problems,
)

__all__ = [
    "Acceptance",
    "IdempotencyConflict",
    "IdempotencyKeyConflict",
    "IntakeError",
    "SubmissionConflict",
    "SubmissionRefused",
    "body_digest",
    "clock_problems",
    "received_event",
    "received_ops_event",
    "rejected_ops_event",
    "text_problems",
]
