"""`GET /api/data`: history and trends of the caller's tenant (CONTRACT §3 Query)."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.api.document import Operation, documented
from app.api.schemas import DataAnswer, DataParams
from app.web.auth import principal, services
from data.domain.data_query import parse_query
from data.stores.queries import DataQueries

bp = Blueprint("data", __name__)  # nested under /api by app.api.ingest


@bp.get("/data")
@documented(Operation({200: DataAnswer}, query=DataParams))
def data() -> Response:
    """Bucketed series of the tenant's metrics over a range; any role, or a `read` key.

    A metric the tenant does not have (another tenant's included) is simply absent from
    `series`: every query is scoped to the caller's tenant, so an unknown metric and one
    with no points in the range look alike, and nothing tells that another tenant has it."""
    who = principal(scope="read")
    svc = services()
    query = parse_query(request.args.to_dict(flat=False), svc.now_ms())
    body = DataQueries(svc.history_engine(), svc.live).answer(who.tenant_id, query)
    return Response(body, mimetype="application/json")
