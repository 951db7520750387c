"""What sign-up, invitations and password resets take (CONTRACT.md §8), checked field by
field: a refusal names each bad field, so the pages and the API say the same thing."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from data.domain.errors import Invalid, Unreadable
from data.domain.jsontext import storable
from data.domain.validation import field_problems, matching

MIN_PASSWORD_CHARS = 8  # data/stores/accounts.py enforces the same on every account
MAX_PASSWORD_CHARS = 1024
MAX_TENANT_ID_CHARS = 40  # room for a "-2" suffix inside the tenants' 64
INVITE_SUBJECT = "invite"

Username = Annotated[
    str,
    Field(min_length=1, max_length=64),
    matching(r"[A-Za-z0-9_.@-]{1,64}", "must be 1-64 of A-Z a-z 0-9 _ . @ -"),
]
Email = Annotated[
    str,
    Field(min_length=3, max_length=254),
    matching(r"[^@\s]+@[^@\s]+", "must be an e-mail address"),
]
Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_CHARS,
        max_length=MAX_PASSWORD_CHARS,
        description=f"at least {MIN_PASSWORD_CHARS} characters",
    ),
]
Role = Literal["viewer", "analyst", "admin"]


class _Form(BaseModel):
    # strict: a number where text is expected is a mistake to name, not to convert
    model_config = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=False)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: object) -> object:
        # no account has a NUL or a lone surrogate in it, and PostgreSQL would refuse one
        if not storable(value):
            raise ValueError("must not contain NUL characters or unpaired surrogates")
        return value


class SignupForm(_Form):
    """A new organisation and its first admin."""

    organisation: Annotated[str, Field(min_length=1, max_length=200)]
    username: Username
    email: Email
    password: Password


class InviteForm(_Form):
    """Who to invite, and with which role."""

    email: Email
    role: Role


class AcceptForm(_Form):
    """The invited person's chosen username and password."""

    username: Username
    password: Password


class ResetRequestForm(_Form):
    """The address to send a reset link to, if an account has it."""

    email: Annotated[str, Field(min_length=1, max_length=254)]


class NewPasswordForm(_Form):
    """The new password of a reset."""

    password: Password


Form = TypeVar("Form", bound=_Form)


def parse_form(model: type[Form], doc: Any, subject: str = "body") -> Form:
    """`doc` read as `model`; Unreadable when it is no object, Invalid naming each field."""
    if not isinstance(doc, dict):
        raise Unreadable("the body must be a JSON object")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise Invalid(field_problems(exc), subject) from None


def tenant_id_for(organisation: str) -> str:
    """A tenant id read from an organisation's name: lower-case ASCII letters and digits
    joined by dashes ("Café Müller & Co" → "cafe-muller-co"); "org" when none is left."""
    ascii_name = unicodedata.normalize("NFKD", organisation).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:MAX_TENANT_ID_CHARS].rstrip("-") or "org"


def numbered(tenant_id: str, attempt: int) -> str:
    """The `attempt`th candidate id: the id itself, then id-2, id-3, …"""
    return tenant_id if attempt <= 1 else f"{tenant_id}-{attempt}"
