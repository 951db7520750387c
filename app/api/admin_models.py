"""The answers of /api/users and /api/keys, as the OpenAPI document shows them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from data.domain.admin_requests import Role, Scope


class UserAnswer(BaseModel):
    """A user of the tenant."""

    id: str
    username: str
    email: str
    role: Role
    active: bool
    created_at: str


class UserList(BaseModel):
    """The tenant's users by username."""

    users: list[UserAnswer]


class KeyAnswer(BaseModel):
    """An API key of the tenant; never its secret."""

    id: str
    name: str
    scope: Scope
    created_at: str
    created_by: str | None = Field(description="the creator's username; null: the CLI")
    last_used_at: str | None = Field(description="updated at most once a minute")
    expires_at: str | None = Field(description="null: never expires")
    revoked: bool


class KeyList(BaseModel):
    """The tenant's keys, newest first."""

    keys: list[KeyAnswer]


class NewKey(KeyAnswer):
    """A key just created, with its secret: shown this once, stored only hashed."""

    secret: str
