"""`/` for a tenant with no data yet: how to send the first points. Its home dashboard is
generated from its top metrics the first time `/` is opened once data exists."""

from __future__ import annotations

import json

from dash import dcc, html

from components import ids

EXAMPLE_POINT = {"source": "web-frontend", "metric_type": "sales.orders", "value": 42.0}


def ingest_example(origin: str = "https://pulse.example.com") -> str:
    """A curl command sending one point to `POST /api/ingest` with an ingest key."""
    body = json.dumps([EXAMPLE_POINT])
    return (
        f"curl -X POST {origin}/api/ingest \\\n"
        '  -H "Authorization: Bearer $PULSE_INGEST_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body}'"
    )


def home_empty() -> html.Div:
    """No data yet: what to send, with what key, and what `/` will then show."""
    return html.Div(
        [
            html.H1("Welcome to Pulse", className="h4"),
            html.P(
                "Your organisation has no data yet. Send your first points to the ingest API "
                "with a key of scope “ingest” (an admin creates one with POST /api/keys):"
            ),
            html.Pre(
                html.Code(ingest_example()), className="pulse-home-example border rounded p-2"
            ),
            html.P(
                "Once points arrive, this page becomes your home dashboard: the busiest "
                "metrics as numbers and live charts, and the latest notifications.",
                className="mb-2",
            ),
            dcc.Link("See every metric in the overview", href="/overview"),
        ],
        id=ids.HOME_EMPTY,
        className="py-4",
        style={"maxWidth": "48rem"},
    )
