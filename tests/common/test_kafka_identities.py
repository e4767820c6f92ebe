"""Agency and provider principals as data, and the add/revoke commands' refusals.

Rules checked:
- an agency may only WRITE (and DESCRIBE) its own submissions topic: no READ anywhere, in
  particular not `referrals.rejected.v1` (it names other agencies' submissions);
- a provider may READ only its own assignments topic and its own group, and WRITE only its
  own responses topic;
- an agency id that is not a slug makes no principal (it could widen a topic name);
- the commands refuse, naming the variable, when the admin principal is not set (never
  falling back to another principal), and a new principal's password is never in its repr.
"""

from __future__ import annotations

import pytest

from services.common.kafka_acls import Grant
from services.common.kafka_identities import (
    AdminSettings,
    Credentials,
    agency_identity,
    provider_identity,
)
from services.common.kafka_security import KafkaSecurityError
from services.intake.__main__ import main as intake_main
from services.provider_gateway.__main__ import main as gateway_main


def test_an_agency_may_only_write_its_own_submissions_topic() -> None:
    identity = agency_identity("notts-police")
    assert identity.principal == "agency-notts-police"
    assert identity.topics == ("referrals.submitted.notts-police.v1",)
    assert identity.grants == (
        Grant("topic", "referrals.submitted.notts-police.v1", ("WRITE", "DESCRIBE")),
    )
    assert not any("READ" in g.operations for g in identity.grants)
    assert all(g.pattern == "literal" for g in identity.grants)


def test_a_provider_reads_its_assignments_in_its_group_and_writes_its_responses_only() -> None:
    identity = provider_identity("juno")
    assert identity.principal == "provider-juno"
    assert set(identity.grants) == {
        Grant("topic", "assignments.juno.v1", ("READ",)),
        Grant("group", "provider-juno", ("READ",)),
        Grant("topic", "assignments.responses.juno.v1", ("WRITE", "DESCRIBE")),
    }
    assert all(g.pattern == "literal" for g in identity.grants)


@pytest.mark.parametrize("agency", ["Notts", "a.b", "x*", "", "-a"])
def test_an_agency_id_that_is_not_a_slug_makes_no_principal(agency: str) -> None:
    with pytest.raises(ValueError, match="slug"):
        agency_identity(agency)


def test_a_new_principals_password_is_never_in_its_repr() -> None:
    credentials = Credentials("agency-x", "s3cret-password-value")
    assert "s3cret" not in repr(credentials)
    assert "s3cret" not in str(credentials)


def test_without_the_admin_principal_the_commands_name_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ADMIN_KAFKA_SASL_USERNAME", "ADMIN_KAFKA_SASL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "tooling")  # must not be used instead
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "tooling-password")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(KafkaSecurityError, match="ADMIN_KAFKA_SASL_USERNAME"):
        AdminSettings.from_env()
    with pytest.raises(SystemExit, match="ADMIN_KAFKA_SASL_USERNAME"):
        gateway_main(["provider-add", "juno"])
    with pytest.raises(SystemExit, match="ADMIN_KAFKA_SASL_USERNAME"):
        intake_main(["agency-revoke", "notts-police"])


def test_the_agency_commands_refuse_an_id_that_is_not_a_slug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        intake_main(["agency-add", "Bad.Agency", "Name", "--kafka"])
    assert "agency_id" in capsys.readouterr().err
