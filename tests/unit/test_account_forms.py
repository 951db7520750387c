"""The account forms' rules and the tenant id an organisation's name gives."""

from __future__ import annotations

import pytest

from app.settings import Settings
from data.domain.account_forms import (
    AcceptForm,
    InviteForm,
    SignupForm,
    numbered,
    parse_form,
    tenant_id_for,
)
from data.domain.errors import Invalid, Unreadable
from data.stores.mail import NO_SMTP, mail_status


@pytest.mark.parametrize(
    ("organisation", "tenant_id"),
    [
        ("Acme", "acme"),
        ("Café Müller & Co", "cafe-muller-co"),
        ("  --Big   Corp--  ", "big-corp"),
        ("日本", "org"),
        ("x" * 100, "x" * 40),
    ],
)
def test_an_organisation_gives_a_tenant_id(organisation: str, tenant_id: str) -> None:
    assert tenant_id_for(organisation) == tenant_id


def test_taken_ids_are_numbered() -> None:
    assert [numbered("acme", n) for n in (1, 2, 3)] == ["acme", "acme-2", "acme-3"]


def test_each_bad_field_is_named() -> None:
    with pytest.raises(Invalid) as err:
        parse_form(
            SignupForm, {"organisation": "", "username": "a b", "email": "x", "password": "1"}
        )
    assert {d["field"] for d in err.value.details} == {
        "organisation",
        "username",
        "email",
        "password",
    }


@pytest.mark.parametrize(
    "doc",
    [
        {"email": "a@b.c", "role": "owner"},
        {"email": "a@b.c", "role": "viewer", "extra": 1},
        {"email": 5, "role": "viewer"},
    ],
)
def test_an_invite_takes_an_address_and_a_known_role_only(doc: dict) -> None:
    with pytest.raises(Invalid):
        parse_form(InviteForm, doc)


def test_a_body_that_is_not_an_object_is_unreadable() -> None:
    with pytest.raises(Unreadable):
        parse_form(AcceptForm, ["username"])


def test_a_missing_smtp_server_is_said() -> None:
    status = mail_status(Settings(smtp_host=None))
    assert not status.configured and status.message == NO_SMTP
    assert mail_status(Settings(smtp_host="mail.example", smtp_port=587)).configured
