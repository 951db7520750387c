"""Settings read once from the environment (and `.env`), never patched at run time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

URL_FIELDS = ("database_url", "database_replica_url", "redis_url")  # masked in reprs


class Settings(BaseSettings):
    """Everything Pulse can be told from outside; see the settings table in README."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str | None = Field(
        None, description="postgresql+psycopg://… ; embedded when unset"
    )
    database_replica_url: str | None = Field(
        None,
        description="a streaming read replica for history, export and forecast reads;"
        " unset: every read goes to DATABASE_URL",
    )
    replica_max_lag_s: float = Field(
        5.0, ge=0, description="a replica lagging more than this is skipped (primary reads)"
    )
    replica_check_s: float = Field(
        2.0, gt=0, le=60, description="how often the replica's lag is measured"
    )
    redis_url: str | None = Field(None, description="redis://… ; embedded when unset")
    secret_key: SecretStr | None = Field(None, description="signs sessions and tokens")
    host: str = "127.0.0.1"
    port: int = 8050
    web_processes: int = Field(
        1,
        ge=1,
        description="processes serving pages, /api and /ws (each fans out to its own sockets)",
    )
    drain_timeout_s: float = Field(
        10.0,
        ge=1,
        le=300,
        description="on SIGTERM the web and stream roles drain (readyz 503, sockets told to"
        " reconnect elsewhere, requests in flight finished) and exit within this",
    )
    drain_unready_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="how long a draining process still serves with /readyz at 503 (so"
        " health checks notice) before it stops listening",
    )
    embed_allowed_origins: str = Field(
        "", description="space-separated origins that may frame /embed and open /ws"
    )
    demo_data: bool | None = Field(
        None, description="start the demo sources; default: when embedded"
    )
    pulse_admin_password: SecretStr | None = Field(None, description="first admin's password")
    var_dir: Path = Field(Path("var"), description="embedded services and the generated secret")
    redis_prefix: str = Field("pulse:", description="prefix of every Redis key and channel")
    redis_partitions: int = Field(
        16,
        ge=1,
        le=1024,
        description="on a Redis Cluster: ingest partitions (streams) tenants are hashed into",
    )
    redis_wait_replicas: int | None = Field(
        None,
        ge=0,
        description="replicas that must confirm queued points before ingest answers 202;"
        " default: 1 on a Redis Cluster, 0 otherwise",
    )
    retention_raw_days: int = Field(
        14, ge=1, description="raw points older than this are refused, then dropped by day"
    )
    retention_1m_days: int = Field(
        90, ge=1, description="1-minute rollups older than this are dropped by month"
    )
    retention_1h_days: int = Field(
        730, ge=1, description="1-hour rollups older than this are dropped by month"
    )
    live_resume_s: int = Field(600, ge=10, description="how far back /ws resume reaches")
    stream_token_ttl_s: int = Field(300, ge=10, description="lifetime of a /ws token")
    gateway_redis_connections: int = Field(
        50, ge=2, description="Redis connections of one /ws gateway process, its pub/sub included"
    )
    gateway_redis_wait_s: float = Field(
        20.0, ge=0, description="how long a /ws handshake or resume waits for one; 0: fail at once"
    )
    ws_max_sockets_per_user: int = Field(
        20, ge=1, description="open /ws sockets one user may hold per gateway process"
    )
    ws_recheck_s: float = Field(
        30.0,
        gt=0,
        le=30,
        description="how often /ws re-checks its sockets' sessions, users and keys",
    )
    ws_max_sockets_per_key: int = Field(
        2_000, ge=1, description="open /ws sockets one API key may hold per gateway process"
    )
    ws_max_frames_per_s: float = Field(
        20.0,
        gt=0,
        le=100,
        description="live frames one /ws socket gets at most a second; faster updates share one",
    )
    ws_frames_budget_per_s: float = Field(
        20_000.0,
        gt=0,
        description="live frames a gateway process sends at most a second, all sockets "
        "together: past budget / WS_MAX_FRAMES_PER_S sockets, each socket's pace slows to "
        "share it (4 frames/s each at 5,000 sockets)",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or JSON lines with the request id and tenant"
    )
    max_deliveries: int = Field(
        5, ge=1, description="deliveries of a failing entry before it is dead-lettered"
    )
    ingest_writers: int = Field(
        2,
        ge=1,
        le=16,
        description="ingest consumers per worker process, each committing its own batches",
    )
    claim_idle_ms: int = Field(
        30_000, ge=100, description="pending entries older than this are reclaimed"
    )
    web_statement_timeout_ms: int = Field(
        15_000, ge=100, description="PostgreSQL cancels a web request's statement running longer"
    )
    login_max_failures: int = Field(
        5, ge=1, description="failed sign-ins per username and address within the window"
    )
    login_max_failures_per_ip: int = Field(
        20, ge=1, description="failed sign-ins per address within the window"
    )
    login_window_s: int = Field(900, ge=1, description="sliding window of sign-in throttling")
    source_files_dir: Path | None = Field(
        None, description="file_tail sources read only below it; default VAR_DIR/sources"
    )
    source_poll_threads: int = Field(
        16, ge=1, le=256, description="worker threads for source polls (apart from alert jobs)"
    )
    max_sources_per_tenant: int = Field(50, ge=1, description="sources a tenant may have")
    outbound_allow: str = Field(
        "",
        description="space-separated hosts, CIDRs or host:port that sources and webhooks may"
        " reach besides public addresses (never Pulse's own PostgreSQL or Redis)",
    )
    sql_sources_enabled: bool = Field(False, description="allow sql sources")
    smtp_host: str | None = Field(None, description="SMTP server for alert e-mail; unset: none")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port")
    smtp_username: str | None = Field(None, description="SMTP login, if the server needs one")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_from: str = Field("pulse@localhost", description="From address of alert e-mail")
    smtp_starttls: bool = Field(False, description="upgrade the SMTP connection with STARTTLS")
    signup_enabled: bool = Field(
        False, description="anyone may create an organisation at /signup (its first admin)"
    )
    invite_ttl_s: int = Field(
        7 * 86_400, ge=60, description="how long an invitation link stays valid"
    )
    public_url: str | None = Field(
        None,
        description="the address people open Pulse at, for links in e-mail (e.g."
        " https://pulse.example.com); default: the request's own, or http://HOST:PORT",
    )
    webhook_timeout_s: float = Field(5.0, gt=0, le=60, description="timeout of one webhook call")
    alert_delivery_attempts: int = Field(
        8, ge=1, le=50, description="attempts of a webhook or e-mail before it is marked failed"
    )
    alert_retry_base_s: float = Field(
        2.0, gt=0, le=600, description="first retry delay of a delivery; doubles per attempt"
    )
    fault_after_commit: bool = Field(
        False, description="tests only: worker dies between commit and ack"
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Fields as pydantic shows them, with the passwords in URLs masked (logs, tracebacks)."""
        for name, value in super().__repr_args__():
            if name in URL_FIELDS and isinstance(value, str):
                value = masked_url(value)
            yield name, value

    @model_validator(mode="after")
    def _drain_fits(self) -> Settings:
        if self.drain_unready_s + 1 > self.drain_timeout_s:
            raise ValueError("DRAIN_UNREADY_S must leave at least 1 s of DRAIN_TIMEOUT_S")
        return self

    @model_validator(mode="after")
    def _smtp_login_only_over_tls(self) -> Settings:
        if self.smtp_username and not self.smtp_starttls:
            raise ValueError(
                "SMTP_USERNAME needs SMTP_STARTTLS=1: Pulse never sends a password unencrypted"
            )
        return self

    @field_validator("redis_prefix")
    @classmethod
    def _prefix_ends_with_colon(cls, value: str) -> str:
        return value if value.endswith(":") else value + ":"

    @property
    def allowed_origins(self) -> list[str]:
        """Origins besides the app's own that may open /ws or frame /embed."""
        return self.embed_allowed_origins.split()

    @property
    def files_dir(self) -> Path:
        """The directory file_tail sources are confined to."""
        return self.source_files_dir or self.var_dir / "sources"

    def require_urls(self) -> tuple[str, str]:
        """The database and Redis URLs, failing clearly when they were never resolved."""
        if not self.database_url or not self.redis_url:
            raise RuntimeError(
                "DATABASE_URL and REDIS_URL must be set (or embedded services started)"
            )
        return self.database_url, self.redis_url

    def require_secret(self) -> str:
        """The secret key, failing clearly when it was never resolved."""
        if self.secret_key is None:
            raise RuntimeError("SECRET_KEY is not set")
        return self.secret_key.get_secret_value()


def masked_url(url: str) -> str:
    """`url` with the password of its user part replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
