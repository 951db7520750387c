"""Alert e-mail over STARTTLS: the server's certificate is verified, and a password is never
sent unencrypted. A real SMTP server (aiosmtpd) with a certificate made for the test."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from app.services import Services
from app.settings import Settings
from app.worker.alert_evaluator import AlertEngine
from app.worker.deliveries import Deliverer
from tests.alerts_support import rule_doc as alert_rule
from tests.conftest import free_port
from tests.integration.test_alerts import Mailbox, analyst, no_deliveries_of_other_tests, points

__all__ = ["analyst", "no_deliveries_of_other_tests"]  # fixtures this module uses


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pulse-test-smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_mailbox(tmp_path: Path) -> Iterator[tuple[Mailbox, int, Path]]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS: (mailbox, port, its cert.pem)."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box, port = Mailbox(), free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    yield box, port, cert
    controller.stop()


def tls_deliverer(services: Services, port: int) -> Deliverer:
    settings = services.settings.model_copy(
        update={
            "alert_retry_base_s": 0.05,
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": True,
        }
    )
    return Deliverer(dataclasses.replace(services, settings=settings))


def deliveries(analyst: Any) -> list[dict[str, Any]]:
    return [d for i in analyst.get("/api/incidents").json["incidents"] for d in i["deliveries"]]


def test_starttls_refuses_a_certificate_nobody_vouches_for(
    services: Services, tenant: str, analyst: Any, tls_mailbox: tuple[Mailbox, int, Path]
) -> None:
    box, port, _ = tls_mailbox
    analyst.post("/api/alerts", json=alert_rule(channels=["email"], email_to="ops@example.com"))
    AlertEngine(services).evaluate_batch({tenant: points([90])})
    sender = tls_deliverer(services, port)
    sender.run_once()
    (delivery,) = deliveries(analyst)
    assert delivery["status"] != "sent" and delivery["attempts"] == 1
    assert delivery["last_error"] == "delivery failed: could not connect"
    assert box.messages == []
    sender.close()


def test_starttls_delivers_to_a_server_whose_certificate_is_trusted(
    services: Services,
    tenant: str,
    analyst: Any,
    tls_mailbox: tuple[Mailbox, int, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    box, port, cert = tls_mailbox
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the machine's trust store, at the edge
    analyst.post("/api/alerts", json=alert_rule(channels=["email"], email_to="ops@example.com"))
    AlertEngine(services).evaluate_batch({tenant: points([90])})
    sender = tls_deliverer(services, port)
    sender.run_once()
    (delivery,) = deliveries(analyst)
    assert delivery["status"] == "sent", delivery
    assert box.messages[0]["To"] == "ops@example.com"
    sender.close()


def test_an_smtp_login_without_tls_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="SMTP_STARTTLS"):
        Settings(smtp_host="mail.example", smtp_username="pulse", smtp_password="secret")
    assert Settings(smtp_username="pulse", smtp_starttls=True).smtp_username == "pulse"
