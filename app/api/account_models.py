"""The /api models of sign-up, invitations and password resets (CONTRACT.md §8). What a
client sends is the domain's (data/domain/account_forms.py), referenced, never re-typed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class SignedInUser(BaseModel):
    """Who is now signed in (the session cookie came with the answer)."""

    username: str
    role: str
    tenant: str


class SignedIn(BaseModel):
    """The account made, now signed in."""

    user: SignedInUser


class InviteLink(BaseModel):
    """An invitation's link: shown to the admin whether or not it could be mailed
    (`mailed` says whether an SMTP server took it)."""

    id: str
    url: str
    expires_at: datetime
    mailed: bool


class PendingInvite(BaseModel):
    """An invitation neither accepted, revoked nor expired (never its link)."""

    id: str
    email: str
    role: str
    expires_at: datetime
    created_at: datetime


class PendingInvites(BaseModel):
    """The tenant's pending invitations, newest first."""

    invites: list[PendingInvite]
