"""The audit log is tamper-evident: each row's hash covers its fields and its tenant's
previous hash, appends of one tenant are serialised even when concurrent, the 0007 migration
hashes the rows written before it, and `python app.py verify-audit` finds what was changed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.services import Services
from app.settings import Settings
from data.stores.audit import AuditLog, record_audit
from data.stores.db import MIGRATIONS
from tests.conftest import new_tenant, scratch_database
from tests.integration.test_partitions import upgrade

ROOT = Path(__file__).resolve().parents[2]


def write(services: Services, tenant: str, n: int, actor: str | None = None) -> None:
    for i in range(n):
        with services.engine.begin() as conn:
            record_audit(conn, tenant, actor, "rule.create", f"rule-{i}", {"i": i, "x": 1.5})


def audit_ids(services: Services, tenant: str) -> list[int]:
    with services.engine.connect() as conn:
        query = text("SELECT audit_id FROM audit_log WHERE tenant_id = :t ORDER BY audit_id")
        return list(conn.execute(query, {"t": tenant}).scalars())


def tamper(services: Services, sql: str, **params: object) -> None:
    with services.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_an_untouched_chain_verifies(services: Services) -> None:
    tenant, other = new_tenant(services), new_tenant(services)
    write(services, tenant, 4)
    write(services, other, 2)
    log = AuditLog(services.engine)
    assert log.verify(tenant) == (4, None)
    assert log.verify(other) == (2, None)


def test_editing_a_row_in_the_database_breaks_the_chain_at_that_row(services: Services) -> None:
    tenant = new_tenant(services)
    write(services, tenant, 4)
    edited = audit_ids(services, tenant)[2]
    tamper(services, "UPDATE audit_log SET target = 'innocent' WHERE audit_id = :id", id=edited)
    checked, broken = AuditLog(services.engine).verify(tenant)
    assert broken is not None and checked == 3
    assert (broken.tenant_id, broken.audit_id) == (tenant, edited)
    assert "edited" in broken.problem


def test_editing_details_or_time_breaks_it_too(services: Services) -> None:
    tenant = new_tenant(services)
    write(services, tenant, 2)
    first, second = audit_ids(services, tenant)
    tamper(
        services, "UPDATE audit_log SET at = at - interval '1 day' WHERE audit_id = :id", id=first
    )
    assert AuditLog(services.engine).verify(tenant)[1].audit_id == first  # type: ignore[union-attr]
    other = new_tenant(services)
    write(services, other, 2)
    row = audit_ids(services, other)[1]
    tamper(services, """UPDATE audit_log SET details = '{"i": 2}' WHERE audit_id = :id""", id=row)
    assert AuditLog(services.engine).verify(other)[1].audit_id == row  # type: ignore[union-attr]


def test_deleting_a_row_breaks_the_chain_at_the_next_one(services: Services) -> None:
    tenant = new_tenant(services)
    write(services, tenant, 4)
    ids = audit_ids(services, tenant)
    tamper(services, "DELETE FROM audit_log WHERE audit_id = :id", id=ids[1])
    broken = AuditLog(services.engine).verify(tenant)[1]
    assert broken is not None and broken.audit_id == ids[2]
    assert "deleted" in broken.problem
    first = new_tenant(services)
    write(services, first, 2)
    tamper(services, "DELETE FROM audit_log WHERE audit_id = :id", id=audit_ids(services, first)[0])
    assert AuditLog(services.engine).verify(first)[1] is not None


def test_swapping_two_rows_breaks_the_chain(services: Services) -> None:
    tenant = new_tenant(services)
    write(services, tenant, 3)
    a, b, _ = audit_ids(services, tenant)
    for old, new in ((a, -a), (b, a), (-a, b)):  # the primary key is checked per row
        tamper(
            services, "UPDATE audit_log SET audit_id = :new WHERE audit_id = :old", old=old, new=new
        )
    assert AuditLog(services.engine).verify(tenant)[1] is not None


def test_concurrent_writers_of_one_tenant_keep_one_unbroken_chain(services: Services) -> None:
    """Without the per-tenant lock, two appends would read the same last hash and fork."""
    tenant, other = new_tenant(services), new_tenant(services)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(target: str) -> None:
        try:
            start.wait()
            write(services, target, 10)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in [tenant] * 6 + [other] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    log = AuditLog(services.engine)
    assert log.verify(tenant) == (60, None)
    assert log.verify(other) == (20, None)
    with services.engine.connect() as conn:
        forks = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT prev_hash FROM audit_log WHERE tenant_id = :t "
                "GROUP BY prev_hash HAVING count(*) > 1) AS f"
            ),
            {"t": tenant},
        ).scalar()
    assert forks == 0


def test_the_migration_hashes_rows_written_before_it(settings: Settings) -> None:
    with scratch_database(settings, "pulse_audit") as url:
        svc = Services.build(settings.model_copy(update={"database_url": url}))
        try:
            upgrade(svc.engine, before_the_chain())
            with svc.engine.begin() as conn:
                conn.execute(text("INSERT INTO tenants (tenant_id, name) VALUES ('a', 'a')"))
                for i in range(3):
                    conn.execute(
                        text(
                            "INSERT INTO audit_log (tenant_id, action, target, details, at) "
                            "VALUES ('a', 'user.create', :t, '{\"n\": 1e20}', now() + :i * "
                            "interval '1 second')"
                        ),
                        {"t": f"u{i}", "i": i},
                    )
            upgrade(svc.engine, "head")
            with svc.engine.begin() as conn:
                record_audit(conn, "a", None, "user.create", "u3", {})
            assert AuditLog(svc.engine).verify() == (4, None)
        finally:
            svc.close()


def before_the_chain() -> str:
    """The revision the chain's migration (0007) follows: rechained as branches merge."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    down = ScriptDirectory.from_config(config).get_revision("0007").down_revision
    assert isinstance(down, str)
    return down


def run_verify(settings: Settings, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.require_urls()[1],
        "SECRET_KEY": settings.require_secret(),
        "DEMO_DATA": "0",
    }
    return subprocess.run(
        [sys.executable, "app.py", "verify-audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_verify_audit_exits_0_then_1_once_a_row_is_edited(settings: Settings) -> None:
    with scratch_database(settings, "pulse_audit") as url:
        svc = Services.build(settings.model_copy(update={"database_url": url}))
        try:
            upgrade(svc.engine, "head")
            for tenant in ("a", "b"):
                with svc.engine.begin() as conn:
                    svc.accounts.ensure_tenant(conn, tenant)
                write(svc, tenant, 3)
            ok = run_verify(settings, url)
            assert ok.returncode == 0, ok.stderr
            assert "6 row(s) checked" in ok.stdout
            edited = audit_ids(svc, "b")[1]
            tamper(svc, "UPDATE audit_log SET action = 'x' WHERE audit_id = :id", id=edited)
            broken = run_verify(settings, url)
            assert broken.returncode == 1
            assert f"tenant b, audit id {edited}" in broken.stderr
            assert "edited" in broken.stderr
            only_a = run_verify(settings, url, "--tenant", "a")
            assert only_a.returncode == 0 and "3 row(s) checked" in only_a.stdout
        finally:
            svc.close()
