"""One poll of a source on demand ("Test now" on the admin page): what the worker would
get, without queueing its points or saving its state or health, so a test never moves the
source's cursor nor counts as a success or failure."""

from __future__ import annotations

import threading
from typing import Any

from app.outbound import outbound_policy
from app.services import Services
from app.worker.sources import POLLERS
from app.worker.sources.base import PollContext, PollResult, SourceError
from data.domain.errors import Invalid
from data.domain.timefmt import iso_ms
from data.stores.sources import Source, parse_config

SAMPLE_POINTS = 5


def trial_poll(services: Services, source: Source) -> dict[str, Any]:
    """`{"ok", "points", "skipped", "sample", "notes", "error"}` of one poll of `source`."""
    try:
        config = parse_config(source.kind, source.config)
    except Invalid as exc:
        return _failed(f"invalid config: {exc}")
    settings = services.settings
    now_ms = services.now_ms()
    ctx = PollContext(
        source_id=source.source_id,
        tenant_id=source.tenant_id,
        name=source.name,
        now_ms=now_ms,
        oldest_ms=now_ms - settings.retention_raw_days * 86_400_000,
        timeout_s=source.timeout_s,
        files_dir=settings.files_dir / source.tenant_id,
        outbound=outbound_policy(settings),
    )
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = POLLERS[source.kind](config, dict(source.state), ctx)
        except Exception as exc:  # the answer's error, never raised
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"trial-{source.name}", daemon=True)
    thread.start()
    thread.join(source.timeout_s)
    if thread.is_alive():  # left behind, as the runner leaves a stuck poll
        return _failed(f"no result within {source.timeout_s:g}s")
    if "error" in outcome:
        return _failed(_describe(outcome["error"]))
    return _succeeded(outcome["result"])


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:2000]


def _failed(error: str) -> dict[str, Any]:
    return {"ok": False, "points": 0, "skipped": 0, "sample": [], "notes": [], "error": error}


def _succeeded(result: PollResult) -> dict[str, Any]:
    sample = [
        {"metric": p.metric, "source": p.source, "timestamp": iso_ms(p.ts_ms), "value": p.value}
        for p in result.points[:SAMPLE_POINTS]
    ]
    return {
        "ok": True,
        "points": len(result.points),
        "skipped": result.skipped,
        "sample": sample,
        "notes": result.notes[:SAMPLE_POINTS],
        "error": None,
    }
