"""Domain logic and storage, knowing no web framework: `domain/` (pure), `stores/`
(PostgreSQL and Redis), `views/` (what pages show), `migrations/` (alembic), and
`outbound.py` (where tenants' sources and webhooks may connect)."""
