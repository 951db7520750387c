"""The bodies an admin sends about users and API keys, checked into one detail per bad field."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.domain.errors import Invalid, Unreadable
from data.domain.jsontext import storable
from data.domain.validation import field_problems

_STRICT = ConfigDict(extra="forbid", strict=True)
MAX_KEY_DAYS = 3650  # ten years: a longer-lived key is a key nobody remembers to rotate
Role = Literal["viewer", "analyst", "admin"]
Scope = Literal["ingest", "read", "embed"]


class UserChange(BaseModel):
    """The body of `PUT /api/users/{id}`: fields left out keep their value."""

    model_config = _STRICT

    role: Role | None = None
    active: bool | None = None


class KeyRequest(BaseModel):
    """The body of `POST /api/keys`; `expires_in_days` null: the key never expires."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=100)
    scope: Scope
    expires_in_days: int | None = Field(90, ge=1, le=MAX_KEY_DAYS)


def _parsed(model: type[BaseModel], doc: Any, subject: str) -> Any:
    if not isinstance(doc, dict):
        raise Unreadable("the body must be a JSON object")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise Invalid(field_problems(exc), subject) from None


def parse_user_change(doc: Any) -> UserChange:
    """The change a PUT body asks for; Invalid (code `invalid_user`) per bad field."""
    change: UserChange = _parsed(UserChange, doc, "user")
    return change


def parse_key_request(doc: Any) -> KeyRequest:
    """The key a POST body asks for; Invalid (code `invalid_api_key`) per bad field."""
    request: KeyRequest = _parsed(KeyRequest, doc, "api_key")
    if not request.name.strip():
        raise Invalid.field("name", "must not be blank", "api_key")
    if not storable(request.name):  # a NUL or a lone surrogate: PostgreSQL cannot keep it
        raise Invalid.field("name", "must be text without NUL characters", "api_key")
    return request
