"""Every Dash component id, in one place."""

URL = "url"
PAGE = "page"
NAVBAR_TOGGLER = "navbar-toggler"
NAVBAR_COLLAPSE = "navbar-collapse"
NAV_USER = "nav-user"

OVERVIEW_BODY = "overview-body"
OVERVIEW_DATA = "overview-data"
LIVE_STATE = "live-state"
WS = "ws"
WS_STATUS = "ws-status"
RELOAD = "overview-reload"
VISIBLE = "page-visible"  # assets/live.js sets it by name on visibilitychange
FRESHNESS_TICK = "freshness-tick"
CONNECTION = "connection"  # assets/live.js sets it by name to reconnect

# pattern-matching id types; the index is the series key "metric|source" or the metric
KPI_VALUE = "kpi-value"
KPI_CHANGE = "kpi-change"
KPI_SPARK = "kpi-spark"
KPI_BADGE = "kpi-badge"
CHART = "live-chart"
CHART_BADGE = "chart-badge"
