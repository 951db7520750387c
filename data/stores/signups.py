"""Sign-up (CONTRACT.md §8, SIGNUP_ENABLED): a new organisation becomes a tenant whose
first user is its admin, in one transaction (no tenant is left without its admin)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import Connection

from data.domain.account_forms import SignupForm, numbered, tenant_id_for
from data.domain.errors import Conflict, Invalid
from data.stores.accounts import AccountError, User, insert_user
from data.stores.audit import record_audit
from data.stores.invites import account_refusal
from data.stores.schema import tenants

MAX_NUMBERED = 1000  # "acme", "acme-2", …: beyond that the name is hardly an organisation's


def sign_up(
    engine: Engine, form: SignupForm, on_created: Callable[[Connection, User], None] | None = None
) -> User:
    """Create the organisation's tenant and its admin; Conflict when the organisation or
    the username is taken, Invalid naming a field that breaks the account rules.
    `on_created` runs in the same transaction (the e-mail verification link)."""
    with engine.begin() as conn:
        name = form.organisation.strip()
        taken = select(tenants.c.tenant_id).where(func.lower(tenants.c.name) == name.lower())
        if not name:
            raise Invalid.field("organisation", "must not be blank")
        if conn.execute(taken).first():
            raise Conflict(f"organisation {name!r} already exists", "organisation_taken")
        tenant_id = _free_tenant_id(conn, tenant_id_for(name))
        conn.execute(insert(tenants).values(tenant_id=tenant_id, name=name))
        try:
            user = insert_user(conn, tenant_id, form.username, form.email, "admin", form.password)
        except AccountError as err:
            raise account_refusal(err) from None
        record_audit(conn, tenant_id, user.user_id, "signup", name, {"username": user.username})
        if on_created is not None:
            on_created(conn, user)
    return user


def _free_tenant_id(conn: Connection, base: str) -> str:
    """The first of base, base-2, base-3, … no tenant has yet."""
    for attempt in range(1, MAX_NUMBERED + 1):
        candidate = numbered(base, attempt)
        found = conn.execute(select(tenants.c.tenant_id).where(tenants.c.tenant_id == candidate))
        if found.first() is None:
            return candidate
    raise Conflict(f"too many organisations are named like {base!r}", "organisation_taken")
