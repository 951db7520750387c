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

# /settings (components/settings.py, assets/settings.js): each field has its feedback
SET_EMAIL = "set-email"
SET_EMAIL_SAVE = "set-email-save"
SET_EMAIL_STATUS = "set-email-status"
SET_CURRENT = "set-current-password"
SET_NEW = "set-new-password"
SET_PASSWORD_SAVE = "set-password-save"
SET_PASSWORD_STATUS = "set-password-status"
SET_THEME = "set-theme"
SET_TZ = "set-timezone"
SET_RANGE = "set-default-range"
SET_HOME = "set-home-dashboard"
SET_PREFS_SAVE = "set-preferences-save"
SET_PREFS_STATUS = "set-preferences-status"
SET_FEEDBACK = "set-feedback"  # index: "<form>-<field>", the field's message
SET_ORG_THEME = "set-org-theme"
SET_ORG_TZ = "set-org-timezone"
SET_ORG_RANGE = "set-org-default-range"
SET_ORG_SAVE = "set-org-save"
SET_ORG_STATUS = "set-org-status"
# /admin (components/admin*.py); pattern-matching types' index is the user, key or source id
ADMIN_TABS = "admin-tabs"
ADMIN_USERS_LIST = "admin-users-list"
ADMIN_USERS_MESSAGE = "admin-users-message"
ADMIN_USERS_RELOAD = "admin-users-reload"
ADMIN_USER_ROLE = "admin-user-role"
ADMIN_USER_TOGGLE = "admin-user-toggle"
ADMIN_USER_DELETE = "admin-user-delete"
ADMIN_USER_CONFIRM = "admin-user-confirm"  # the delete dialog
ADMIN_USER_CONFIRM_TEXT = "admin-user-confirm-text"
ADMIN_USER_CONFIRM_YES = "admin-user-confirm-yes"
ADMIN_USER_CONFIRM_NO = "admin-user-confirm-no"
ADMIN_USER_TARGET = "admin-user-target"  # the user the dialog would delete
ADMIN_KEYS_LIST = "admin-keys-list"
ADMIN_KEYS_MESSAGE = "admin-keys-message"
ADMIN_KEYS_RELOAD = "admin-keys-reload"
ADMIN_KEY_NAME = "admin-key-name"
ADMIN_KEY_NAME_ERROR = "admin-key-name-error"
ADMIN_KEY_SCOPE = "admin-key-scope"
ADMIN_KEY_EXPIRY = "admin-key-expiry"
ADMIN_KEY_CREATE = "admin-key-create"
ADMIN_KEY_SECRET_PANEL = "admin-key-secret-panel"
ADMIN_KEY_SECRET = "admin-key-secret"
ADMIN_KEY_REVOKE = "admin-key-revoke"
ADMIN_KEY_CONFIRM = "admin-key-confirm"  # the revoke dialog
ADMIN_KEY_CONFIRM_TEXT = "admin-key-confirm-text"
ADMIN_KEY_CONFIRM_YES = "admin-key-confirm-yes"
ADMIN_KEY_CONFIRM_NO = "admin-key-confirm-no"
ADMIN_KEY_TARGET = "admin-key-target"
ADMIN_SOURCES_LIST = "admin-sources-list"
ADMIN_SOURCES_MESSAGE = "admin-sources-message"
ADMIN_SOURCES_RELOAD = "admin-sources-reload"
ADMIN_SOURCE_NEW = "admin-source-new"
ADMIN_SOURCE_EDIT = "admin-source-edit"
ADMIN_SOURCE_TOGGLE = "admin-source-toggle"
ADMIN_SOURCE_TEST = "admin-source-test"
ADMIN_SOURCE_TEST_RESULT = "admin-source-test-result"
ADMIN_SOURCE_FORM = "admin-source-form"  # the create/edit dialog
ADMIN_SOURCE_FORM_TITLE = "admin-source-form-title"
ADMIN_SOURCE_EDITING = "admin-source-editing"  # the id being edited; None: a new source
ADMIN_SOURCE_FIELD = "admin-source-field"  # + "-<field>": the form's control of a field
ADMIN_SOURCE_ERROR = "admin-source-error"  # + "-<field>": where its problem shows
ADMIN_SOURCE_FORM_ERROR = "admin-source-form-error"  # a problem with no field of the form
ADMIN_SOURCE_SAVE = "admin-source-save"
ADMIN_SOURCE_CANCEL = "admin-source-cancel"
# /admin's invitations tab (components/admin_invites.py)
INVITES_TAB = "invites-tab"
INVITES_SMTP = "invites-smtp"  # whether e-mail can go out, said to the admin
INVITES_EMAIL = "invites-email"
INVITES_EMAIL_ERROR = "invites-email-error"
INVITES_ROLE = "invites-role"
INVITES_SEND = "invites-send"
INVITES_RESULT = "invites-result"  # the link just made, to copy
INVITES_LINK = "invites-link"
INVITES_LIST = "invites-list"
INVITE_RESEND = "invite-resend"  # pattern: index = the invitation id
INVITE_REVOKE = "invite-revoke"  # pattern: index = the invitation id
