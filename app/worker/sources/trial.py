"""One poll of a source on demand ("Test now" on the admin page): what the worker would
get, without queueing its points or saving its state or health, so a test never moves the
source's cursor nor counts as a success or failure."""

from __future__ import annotations

from typing import Any

from app.services import Services
from app.worker.sources.base import PollResult
from app.worker.sources.runner import poll_once
from data.domain.timefmt import iso_ms
from data.stores.sources import Source

SAMPLE_POINTS = 5


def trial_poll(services: Services, source: Source) -> dict[str, Any]:
    """`{"ok", "points", "skipped", "sample", "notes", "error"}` of one poll of `source`."""
    attempt = poll_once(services, source, f"trial-{source.name}")
    if attempt.result is None:  # a stuck poll is left behind, as the runner leaves one
        return _failed(attempt.error or "")
    return _succeeded(attempt.result)


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
