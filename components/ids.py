"""Every Dash component id, in one place."""

URL = "url"
PAGE = "page"
NAVBAR_TOGGLER = "navbar-toggler"
NAVBAR_COLLAPSE = "navbar-collapse"
NAV_USER = "nav-user"
HOME_EMPTY = "home-empty"  # `/` of a tenant with no data yet

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

EXPLORE_TZ = "explore-tz"  # the browser's IANA time zone, set by assets/explore.js
EXPLORE_SEARCH = "explore-search"  # the view's query string, mirrored into the address bar
EXPLORE_LIVE = "explore-live"  # what the live tail needs from the last query
EXPLORE_LIVE_STATE = "explore-live-state"  # the live tail's progress: cursor, last ts drawn
EXPLORE_RELOAD = "explore-reload"
EXPLORE_CONNECTION = "explore-connection"
EXPLORE_WS = "explore-ws"
EXPLORE_WS_STATUS = "explore-ws-status"
EXPLORE_METRICS = "explore-metrics"
EXPLORE_SOURCES = "explore-sources"
EXPLORE_RANGE = "explore-range"
EXPLORE_DAYS = "explore-days"
EXPLORE_DAYS_COL = "explore-days-col"
EXPLORE_AGG = "explore-agg"
EXPLORE_STEP = "explore-step"
EXPLORE_CHART = "explore-chart"
EXPLORE_MA = "explore-ma"
EXPLORE_COMPARE = "explore-compare"
EXPLORE_BREAKDOWN = "explore-breakdown"
EXPLORE_BREAKDOWN_COL = "explore-breakdown-col"
EXPLORE_LIVE_SWITCH = "explore-live-switch"
EXPLORE_FILTERS = "explore-filters"
EXPLORE_FILTERS_TOGGLE = "explore-filters-toggle"
EXPLORE_MESSAGE = "explore-message"
EXPLORE_SUMMARY = "explore-summary"
EXPLORE_GRAPH = "explore-graph"
EXPLORE_GRAPH_WRAP = "explore-graph-wrap"
EXPLORE_TABLE = "explore-table"
EXPLORE_TABLE_WRAP = "explore-table-wrap"
EXPLORE_EXPORT = "explore-export"
EXPLORE_CSV = "explore-csv"
EXPLORE_XLSX = "explore-xlsx"
EXPLORE_DOWNLOAD = "explore-download"

# the shell's notifications: one socket per tab, whatever the page (assets/notify.js)
NAV_UNREAD = "nav-unread"  # the navbar bell's unread badge
SHELL_WS = "shell-ws"
SHELL_CONNECTION = "shell-connection"  # assets/notify.js sets it by name to reconnect
# pattern-matching, index: the page; the last notification pushed, kept by each page that
# lists notifications (a plain id in the shell would make those pages' callbacks fire, and
# fail on their missing inputs, on every other page)
NOTIFY_LAST = "notify-last"
TOAST = "notify-toast"
TOAST_BODY = "notify-toast-body"
TOAST_LINK = "notify-toast-link"

NOTIFS_SEVERITY = "notifs-severity"
NOTIFS_PERIOD = "notifs-period"
NOTIFS_LIST = "notifs-list"
NOTIFS_SUMMARY = "notifs-summary"
NOTIFS_READ_ALL = "notifs-read-all"
NOTIFS_RELOAD = "notifs-reload"
NOTIF_READ = "notif-read"  # pattern-matching, index: notification id
NOTIF_ACK = "notif-ack"  # pattern-matching, index: incident id

# the audit tab of /admin (components/admin_audit.py)
AUDIT_ACTOR = "audit-actor"
AUDIT_ACTION = "audit-action"
AUDIT_PERIOD = "audit-period"
AUDIT_LIST = "audit-list"
AUDIT_NEXT = "audit-next"  # the cursor of the next page; None when none is left
AUDIT_MORE = "audit-more"
AUDIT_EXPORT = "audit-export"
AUDIT_MESSAGE = "audit-message"

ALERTS_RELOAD = "alerts-reload"
ALERTS_RULES = "alerts-rules"
ALERTS_INCIDENTS = "alerts-incidents"
ALERTS_NEW = "alerts-new"
ALERTS_MESSAGE = "alerts-message"
ALERTS_MODAL = "alerts-modal"
ALERTS_MODAL_TITLE = "alerts-modal-title"
ALERTS_EDITING = "alerts-editing"  # the rule id being edited; None for a new rule
ALERTS_SAVE = "alerts-save"
ALERTS_CANCEL = "alerts-cancel"
ALERTS_PREVIEW = "alerts-preview"
ALERTS_PREVIEW_OUT = "alerts-preview-out"
ALERTS_FORM_ERROR = "alerts-form-error"
ALERTS_CONFIRM = "alerts-confirm"
ALERTS_DELETING = "alerts-deleting"
RULE_FIELD = "rule-field"  # pattern-matching, index: the field's name
RULE_ERROR = "rule-error"
RULE_ROW = "rule-row"
RULE_ACTION = "rule-action"  # pattern-matching, index: "<action>|<rule id>"

# /dashboards, the list
DASHES_SEARCH = "dashes-search"
DASHES_LIST = "dashes-list"
DASHES_NEW = "dashes-new"
DASHES_MESSAGE = "dashes-message"
# /dashboards/{id}
DASH_ID = "dash-id"  # the dashboard id of the URL
DASH_BODY = "dash-body"
DASH_DOC = "dash-doc"  # the document as the page holds it, edits included, with its version
DASH_UNDO = "dash-undo"  # the undo stack: documents before each change
DASH_EDITING = "dash-editing"  # whether edit mode is on
DASH_LIVE = "dash-live"  # what assets/dashboards.js keeps live: cursor, patterns, traces
DASH_LIVE_STATE = "dash-live-state"  # the live progress: cursor, last ts per series
DASH_CONNECTION = "dash-connection"  # assets/dashboards.js sets it by name to reconnect
DASH_WS = "dash-ws"
DASH_GRID = "dash-grid"
DASH_TITLE = "dash-title"
DASH_TITLE_INPUT = "dash-title-input"
DASH_EDIT = "dash-edit"
DASH_TOOLBAR = "dash-toolbar"
DASH_SAVE = "dash-save"
DASH_COPY = "dash-copy"
DASH_UNDO_BUTTON = "dash-undo-button"
DASH_SHARED = "dash-shared"
DASH_HOME = "dash-home"
DASH_RANGE = "dash-range"  # the user's own time range (a personal view)
DASH_SOURCES = "dash-sources"  # the user's own source filter over every widget (their view)
DASH_RESET_VIEW = "dash-reset-view"  # "Reset my view": back to the dashboard as saved
DASH_COLLAPSE = "dash-collapse"  # index: the widget id; folds it in the user's view
DASH_TENANT_HOME = "dash-tenant-home"  # an admin's "Make the tenant's home"
DASH_STATUS = "dash-status"
DASH_CONFLICT = "dash-conflict"
DASH_RELOAD = "dash-reload"
DASH_RELOADS = "dash-reloads"  # how many times "Reload" was pressed: reloads the dashboard
DASH_CONFLICT_COPY = "dash-conflict-copy"
DASH_PANEL = "dash-panel"  # the side panel editing one widget's query
DASH_PANEL_WIDGET = "dash-panel-widget"  # the id of the widget the panel edits
DASH_PANEL_APPLY = "dash-panel-apply"
DASH_PREVIEW = "dash-preview"
# pattern-matching: index is a widget type (palette) or a widget id
DASH_ADD = "dash-add"
DASH_REMOVE = "dash-remove"
DASH_CONFIGURE = "dash-configure"
DASH_FIELD = "dash-field"  # index: the panel field's name
DASH_FIG = "dash-fig"
DASH_KPI = "dash-kpi"
DASH_ROWS = "dash-rows"  # a table or notifications widget's rows
DASH_EMBED_OPEN = "dash-embed-open"  # the dashboard's "Embed"
DASH_EMBED_WIDGET = "dash-embed-widget"  # index: the widget id; its "Embed"
DASH_EMBED_MODAL = "dash-embed-modal"
DASH_EMBED_RESOURCE = "dash-embed-resource"  # what the dialog embeds: dashboard or widget
DASH_EMBED_HEADING = "dash-embed-heading"
DASH_EMBED_TTL = "dash-embed-ttl"
DASH_EMBED_TTL_ERROR = "dash-embed-ttl-error"
DASH_EMBED_SOURCES = "dash-embed-sources"
DASH_EMBED_SOURCES_ERROR = "dash-embed-sources-error"
DASH_EMBED_CREATE = "dash-embed-create"
DASH_EMBED_ERROR = "dash-embed-error"  # a problem with no field of the form
DASH_EMBED_RESULT = "dash-embed-result"
DASH_EMBED_SNIPPET = "dash-embed-snippet"
DASH_EMBED_EXPIRY = "dash-embed-expiry"
DASH_EMBED_LIST = "dash-embed-list"  # the dashboard's live tokens
DASH_EMBED_REVOKE = "dash-embed-revoke"  # index: the token's jti
