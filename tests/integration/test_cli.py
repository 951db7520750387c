"""The admin commands of `python app.py`, run as real subprocesses on the run's database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from app.services import Services
from app.settings import Settings
from data.stores.schema_accounts import api_keys

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_cli(settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `python app.py …` against this run's database and Redis, with `stdin` as input."""
    database_url, redis_url = settings.require_urls()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.require_secret(),
        "REDIS_PREFIX": settings.redis_prefix,
        "VAR_DIR": str(tmp_path / "var"),
        "DEMO_DATA": "0",
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "app.py", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_user_makes_a_user_who_can_sign_in(run_cli, services: Services) -> None:
    tenant, username = new_name("cli"), new_name("ana")
    result = run_cli(
        "create-user",
        "--tenant",
        tenant,
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--role",
        "analyst",
        stdin="a-long-cli-password\n",
    )
    assert result.returncode == 0, result.stderr
    assert username in result.stdout
    user = services.accounts.authenticate(username, "a-long-cli-password")
    assert user is not None
    assert (user.tenant_id, user.role, user.email, user.active) == (
        tenant,
        "analyst",
        f"{username}@example.com",
        True,
    )
    assert services.accounts.authenticate(username, "a-long-cli-password\n") is None
    assert "a-long-cli-password" not in result.stdout + result.stderr


def test_create_user_with_a_taken_username_fails_clearly(
    run_cli, services: Services, tenant: str, make_user
) -> None:
    existing = make_user(tenant, "viewer")
    result = run_cli(
        "create-user",
        "--tenant",
        tenant,
        "--username",
        existing.username,
        "--email",
        "someone-else@example.com",
        "--role",
        "admin",
        stdin="another-password\n",
    )
    assert result.returncode != 0
    assert f"username {existing.username!r} is taken" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert services.accounts.authenticate(existing.username, "another-password") is None
    kept = services.accounts.get_user(existing.user_id)
    assert kept is not None and kept.role == "viewer"


def test_create_user_refuses_a_short_password(run_cli, services: Services) -> None:
    username = new_name("short")
    result = run_cli(
        "create-user",
        "--tenant",
        new_name("cli"),
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--role",
        "viewer",
        stdin="short\n",
    )
    assert result.returncode != 0
    assert "at least 8 characters" in result.stderr, result.stderr
    assert services.accounts.authenticate(username, "short") is None


def test_create_user_refuses_an_unknown_role(run_cli) -> None:
    result = run_cli(
        "create-user",
        "--tenant",
        "x",
        "--username",
        "y",
        "--email",
        "y@e.x",
        "--role",
        "owner",
        stdin="long-enough-password\n",
    )
    assert result.returncode != 0
    assert "--role" in result.stderr


def test_create_api_key_prints_a_key_that_verifies_and_is_stored_hashed(
    run_cli, services: Services
) -> None:
    tenant = new_name("cli")
    result = run_cli(
        "create-api-key", "--tenant", tenant, "--name", "collector", "--scope", "ingest"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, "the key alone is printed, once"
    key = lines[0].strip()
    verified = services.accounts.verify_api_key(key)
    assert verified is not None
    assert (verified.tenant_id, verified.name, verified.scope) == (tenant, "collector", "ingest")
    secret_part = key.split("_", 2)[2]
    with services.engine.connect() as conn:
        rows = conn.execute(select(api_keys).where(api_keys.c.tenant_id == tenant)).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert key not in stored and secret_part not in stored
    assert services.accounts.verify_api_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None


def test_revoke_api_key_revokes_the_tenants_key_of_that_name_only(
    run_cli, services: Services
) -> None:
    tenant, other = new_name("cli"), new_name("cli")
    key = services.accounts.create_api_key(tenant, "collector", "ingest")
    kept = services.accounts.create_api_key(other, "collector", "ingest")
    result = run_cli("revoke-api-key", "--tenant", tenant, "--name", "collector")
    assert result.returncode == 0, result.stderr
    assert "revoked 1" in result.stdout
    assert services.accounts.verify_api_key(key) is None
    assert services.accounts.verify_api_key(kept) is not None
    again = run_cli("revoke-api-key", "--tenant", tenant, "--name", "collector")
    assert again.returncode != 0 and "no such live API key 'collector'" in again.stderr


def test_disable_user_ends_their_sessions_and_set_role_changes_the_role(
    run_cli, services: Services
) -> None:
    from data.stores.sessions import SessionRegistry

    tenant, name = new_name("cli"), new_name("ana")
    user = services.accounts.create_user(
        tenant, name, f"{name}@example.com", "analyst", "long-enough-password"
    )
    services.accounts.create_user(
        tenant, name + "-a", f"{name}a@example.com", "admin", "long-enough-password"
    )
    registry = SessionRegistry(services.redis, services.settings.redis_prefix)
    sid = registry.start(user.user_id)
    result = run_cli("set-role", "--tenant", tenant, "--username", name, "--role", "viewer")
    assert result.returncode == 0, result.stderr
    assert services.accounts.get_user(user.user_id).role == "viewer"  # type: ignore[union-attr]
    result = run_cli("disable-user", "--tenant", tenant, "--username", name)
    assert result.returncode == 0, result.stderr
    assert services.accounts.get_user(user.user_id).active is False  # type: ignore[union-attr]
    assert not registry.is_live(user.user_id, sid)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("revoke-api-key", "--tenant", "no-such-tenant-x", "--name", "k"), "no such tenant"),
        (("disable-user", "--tenant", "no-such-tenant-x", "--username", "u"), "no such tenant"),
        (
            ("set-role", "--tenant", "no-such-tenant-x", "--username", "u", "--role", "viewer"),
            "no such tenant",
        ),
    ],
)
def test_admin_commands_fail_clearly_on_an_unknown_tenant(run_cli, args, says) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(*args)
    assert result.returncode == 2 and says in result.stderr, result.stderr


def test_admin_commands_fail_clearly_on_an_unknown_user_or_the_last_admin(
    run_cli, services: Services
) -> None:
    tenant, name = new_name("cli"), new_name("adm")
    services.accounts.create_user(
        tenant, name, f"{name}@example.com", "admin", "long-enough-password"
    )
    unknown = run_cli("disable-user", "--tenant", tenant, "--username", "ghost")
    assert unknown.returncode == 2 and "no such user 'ghost'" in unknown.stderr
    last = run_cli("set-role", "--tenant", tenant, "--username", name, "--role", "viewer")
    assert last.returncode == 2 and "last admin" in last.stderr
