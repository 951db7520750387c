"""Pulse's processes, one subpackage a role: `web` (pages, sign-in), `api` (the /api
routes), `stream` (the /ws gateway), `worker` (writes, jobs, alerts, sources), `embedded`
(PostgreSQL and Redis for a machine that has none). Beside them what every role shares:
settings, services (connections), logs, metrics, errors, stream tokens, outbound HTTP."""
