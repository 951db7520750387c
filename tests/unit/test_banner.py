"""What `python app.py` prints once it is up: the URL, the first admin, where the data is."""

from __future__ import annotations

from pathlib import Path

from app.cli import banner
from app.settings import Settings


def test_a_generated_password_is_shown_once_with_the_user_and_the_url(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        host="0.0.0.0",
        port=8051,
        var_dir=tmp_path,
        database_url=f"postgresql+psycopg://postgres@/pulse?host={tmp_path}/pg",
        redis_url=f"unix://{tmp_path}/redis/redis.sock?db=0",
    )
    text = banner(settings, "s3cret-generated")
    assert "Pulse is running on http://127.0.0.1:8051" in text
    assert "Sign in as 'admin' with password 's3cret-generated'" in text
    assert f"PostgreSQL: embedded, under {tmp_path.resolve()}" in text
    assert f"Redis: embedded, under {tmp_path.resolve()}" in text


def test_external_services_are_named_without_their_passwords(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        var_dir=tmp_path,
        database_url="postgresql+psycopg://pulse:db-secret@db.example:5432/pulse",
        redis_url="redis://:redis-secret@cache.example:6379/0",
    )
    text = banner(settings, None)
    assert "password" not in text and "secret" not in text
    assert "PostgreSQL: postgresql+psycopg://pulse:***@db.example:5432/pulse" in text
    assert "Redis: redis://:***@cache.example:6379/0" in text
