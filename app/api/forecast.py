"""`GET /api/forecast` (CONTRACT §9) and its addition `GET /api/forecast/band`: a forecast
of one series of the caller's tenant with its backtest, and the anomaly band over its past."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, request
from orjson import dumps

from app.api.document import Operation, documented
from app.api.schemas import BandAnswer, BandParams, ForecastAnswer, ForecastParams
from app.errors import ApiError
from app.web.auth import principal, services
from data.domain.forecast_query import parse_forecast_query
from data.domain.forecasting import NotEnoughHistory
from data.views.forecasts import band_for, forecast_for

bp = Blueprint("forecast", __name__)  # nested under /api by app.api


@bp.get("/forecast")
@documented(Operation({200: ForecastAnswer}, query=ForecastParams))
def forecast() -> Response:
    """A forecast of one series over `horizon` with 80 % and 95 % intervals, from `history`
    read at the step step=auto picks, and the rolling-origin backtest of the chosen model
    against the seasonal-naive baseline; any role, or a `read` key.

    Too little history answers 422 `not_enough_history`, its detail saying how much is
    needed (`needed_ms`). A series of another tenant looks like one with no history."""
    who = principal(scope="read")
    query = parse_forecast_query(request.args.to_dict(flat=False))
    with not_enough_history_as_422():
        body = forecast_for(
            services(),
            who.tenant_id,
            query.metric,
            query.source,
            query.horizon_ms,
            query.history_ms,
            query.agg,
        )
    return Response(dumps(body), mimetype="application/json")


@bp.get("/forecast/band")
@documented(Operation({200: BandAnswer}, query=BandParams))
def band() -> Response:
    """The 95 % anomaly band over one series' `history` (an addition to CONTRACT §9): per
    step the value, the one-step-ahead prediction, the band and whether the value left it;
    any role, or a `read` key. Too little history answers 422 like /api/forecast."""
    who = principal(scope="read")
    query = parse_forecast_query(request.args.to_dict(flat=False), with_horizon=False)
    with not_enough_history_as_422():
        body = band_for(
            services(), who.tenant_id, query.metric, query.source, query.history_ms, query.agg
        )
    return Response(dumps(body), mimetype="application/json")


@contextmanager
def not_enough_history_as_422() -> Iterator[None]:
    """Turn NotEnoughHistory into the 422 whose detail says how much history is needed."""
    try:
        yield
    except NotEnoughHistory as err:
        detail = {
            "field": "history",
            "message": err.message,
            "needed_ms": err.needed_ms,
            "needed_steps": err.needed_steps,
            "have_steps": err.have_steps,
            "step_ms": err.step_ms,
        }
        raise ApiError(422, err.code, err.message, [detail]) from err
