"""The /alerts page: rules, their editor and preview, and the incident history."""

from __future__ import annotations

from dash import html


def alerts_page() -> html.Div:
    return html.Div(html.H1("Alerts", className="h4"))
