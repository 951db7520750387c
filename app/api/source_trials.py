"""POST /api/sources/{id}/test: poll a source once, now, and say what came back; nothing is
queued or saved (admins only; another tenant's source answers 404)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel

from app.api.document import Operation, documented
from app.outbound import outbound_policy
from app.web.auth import principal, services
from app.worker.sources.trial import trial_poll
from data.domain.errors import NotFound
from data.stores.sources import SourceStore

bp = Blueprint("source_trials", __name__, url_prefix="/sources")


class SampledPoint(BaseModel):
    """One of the first points a trial poll got."""

    metric: str
    source: str
    timestamp: str
    value: float


class SourceTrial(BaseModel):
    """What one poll got: its point count and first points, or its error."""

    ok: bool
    points: int
    skipped: int
    sample: list[SampledPoint]
    notes: list[str]
    error: str | None


@bp.post("/<source_id>/test")
@documented(Operation({200: SourceTrial}, refusals=(404,)))
def test_source(source_id: str) -> Response:
    """Poll the source once without storing anything: a failing poll is a 200 with `ok`
    false and the error the worker would record."""
    who = principal(role="admin")
    svc = services()
    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    source = store.get(who.tenant_id, source_id)
    if source is None:
        raise NotFound("source")
    return jsonify(trial_poll(svc, source))
