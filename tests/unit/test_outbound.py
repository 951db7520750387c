"""The outbound policy's decisions (data/outbound.py), URL credential masking, and the
Standard Webhooks signature against the specification's published example."""

from __future__ import annotations

import base64

import pytest

from app.worker.deliveries import standard_signature
from data.domain.url_secrets import MaskedCredential, mask_url, unmask_url
from data.outbound import OutboundPolicy, OutboundRefused

OWN = ("postgresql+psycopg://postgres@127.0.0.1:5432/pulse", "redis://127.0.0.1:6379/0")
EMBEDDED = (
    "postgresql+psycopg://postgres@/pulse?host=/srv/pulse/var/pg",
    "unix:///srv/pulse/var/redis/redis.sock?db=0",
)


def refused(policy: OutboundPolicy, host: str, port: int = 80) -> bool:
    try:
        policy.check_host(host, port)
    except OutboundRefused:
        return True
    return False


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1.2.3",
        "localhost",
        "0x7f.1",
        "2130706433",
        "::1",
        "[::1]",
        "0.0.0.0",
        "::",
        "0.1.2.3",
        "169.254.169.254",
        "169.254.1.1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "metadata.google.internal",
        "METADATA.GOOGLE.INTERNAL.",
    ],
)
def test_loopback_link_local_unspecified_and_metadata_are_refused_by_default(host: str) -> None:
    assert refused(OutboundPolicy.build("", OWN), host)


def test_public_and_private_network_addresses_are_allowed() -> None:
    policy = OutboundPolicy.build("", OWN)
    assert not refused(policy, "93.184.216.34", 443)
    assert not refused(policy, "10.1.2.3", 9100)  # a tenant's internal Prometheus


def test_outbound_allow_opens_hosts_cidrs_and_host_ports() -> None:
    policy = OutboundPolicy.build("127.0.0.1:9100 169.254.0.0/16 localhost", OWN)
    assert not refused(policy, "127.0.0.1", 9100)
    assert refused(policy, "127.0.0.1", 9101)
    assert not refused(policy, "169.254.10.10", 80)
    assert not refused(policy, "localhost", 8080)


def test_pulse_own_postgresql_and_redis_stay_refused_whatever_is_allowed() -> None:
    policy = OutboundPolicy.build("127.0.0.0/8 localhost 127.0.0.1:5432", OWN)
    for host in ("127.0.0.1", "localhost", "::ffff:127.0.0.1", "127.0.0.1."):
        assert refused(policy, host, 5432), host
        assert refused(policy, host, 6379), host
    assert not refused(policy, "127.0.0.1", 5433)
    with pytest.raises(OutboundRefused, match="Pulse's own database or Redis"):
        policy.check_host("127.0.0.1", 5432)


def test_sql_urls_need_the_setting_and_reach_no_socket_file_or_own_server() -> None:
    off = OutboundPolicy.build("/", EMBEDDED)
    with pytest.raises(OutboundRefused, match="SQL_SOURCES_ENABLED"):
        off.check_sql("postgresql+psycopg://u:p@db.example/shop")
    on = OutboundPolicy.build("/tmp", EMBEDDED, sql_sources_enabled=True)
    cases = {
        EMBEDDED[0]: "Pulse's own database",
        "postgresql+psycopg://postgres@/pulse?host=/srv/pulse/var/pg/../pg": "own database",
        "postgresql+psycopg://postgres@/x?host=/run/postgresql": "unix sockets are not allowed",
        "sqlite:////srv/pulse/var/secret_key": "database files are not allowed",
        "postgresql+psycopg://u@10.0.0.5/x?hostaddr=127.0.0.1": "'hostaddr' is not allowed",
        "postgresql+psycopg://u@10.0.0.5/x?sslkey=/srv/pulse/var/secret_key": "'sslkey'",
        "postgresql+psycopg://u@10.0.0.5/x?service=pulse": "'service' is not allowed",
        "postgresql+psycopg://postgres@127.0.0.1:5432/x": "not allowed",
    }
    for url, message in cases.items():
        with pytest.raises(OutboundRefused, match=message):
            on.check_sql(url)
    assert on.check_sql("postgresql+psycopg://u:p@10.0.0.5/x?sslmode=require") != []
    # an operator may open a socket directory of their own
    assert on.check_sql("postgresql+psycopg://postgres@/x?host=/tmp") == []


def test_refusals_name_the_host_and_no_path() -> None:
    policy = OutboundPolicy.build("", EMBEDDED, sql_sources_enabled=True)
    with pytest.raises(OutboundRefused) as caught:
        policy.check_url("http://127.0.0.1:8050/var/secret_key?x=1")
    assert str(caught.value) == "host '127.0.0.1' is not allowed (see OUTBOUND_ALLOW)"
    with pytest.raises(OutboundRefused) as caught:
        policy.check_sql(EMBEDDED[0])
    assert "/srv" not in str(caught.value)


def test_url_credentials_are_masked_and_restored_only_onto_their_host() -> None:
    url = "https://ops:s3cret@hooks.example/in?token=abc&Api-Key=k&page=1"
    masked = mask_url(url)
    assert masked == "https://ops:***@hooks.example/in?token=***&Api-Key=***&page=1"
    assert unmask_url(masked, url) == url
    edited = masked.replace("page=1", "page=2")
    assert unmask_url(edited, url) == url.replace("page=1", "page=2")
    with pytest.raises(MaskedCredential):
        unmask_url(masked.replace("hooks.example", "evil.example"), url)
    assert mask_url("https://hooks.example/in?a=b c") == "https://hooks.example/in?a=b c"


def test_standard_webhooks_signature_matches_the_published_example() -> None:
    """The example of the Standard Webhooks specification (and its reference library)."""
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert (
        standard_signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
