"""app.stream.fastwrite: the pinned direct-write path is taken only with the versions it was
written for (tests/gateway/test_ws.py counts the frames that go through it)."""

from __future__ import annotations

import logging

import pytest
from websockets.frames import Frame, Opcode

from app.stream.fastwrite import (
    PINNED,
    FastWriter,
    direct_writes_enabled,
    installed_versions,
    text_frame,
)


def test_the_locked_dependencies_are_the_pinned_versions() -> None:
    """requirements.lock and PINNED move together: bump PINNED after re-reading uvicorn's
    WebSocketsSansIOProtocol.send, or the gateway silently takes the slower path."""
    assert installed_versions() == dict(PINNED)
    assert direct_writes_enabled()


def test_other_versions_take_the_asgi_path_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.stream.fastwrite")
    assert direct_writes_enabled(dict(PINNED))
    assert "direct writes" in caplog.records[-1].getMessage()

    upgraded = {**PINNED, "uvicorn": "0.99.0"}
    assert not direct_writes_enabled(upgraded)
    message = caplog.records[-1].getMessage()
    assert caplog.records[-1].levelno == logging.WARNING
    assert "the ASGI send path" in message and "uvicorn 0.99.0" in message

    assert not direct_writes_enabled({**PINNED, "websockets": None})


def test_a_send_of_anything_but_uvicorns_sansio_protocol_gets_no_fast_writer() -> None:
    async def send(message: dict) -> None:
        pass

    class Wrapper:
        async def send(self, message: dict) -> None:
            pass

    assert FastWriter.of(send) is None
    assert FastWriter.of(Wrapper().send) is None


def test_text_frame_is_an_unmasked_final_text_frame_of_any_length() -> None:
    assert text_frame("hi") == b"\x81\x02hi"
    long_text = "é" * 40_000  # 80,000 bytes: the 64-bit length form
    framed = text_frame(long_text)
    assert framed[:2] == b"\x81\x7f"
    assert int.from_bytes(framed[2:10], "big") == 80_000
    assert Frame(Opcode.TEXT, long_text.encode()).serialize(mask=False) == framed
