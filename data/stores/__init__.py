"""Storage: PostgreSQL history and the relational model, the Redis live store, and the
records kept in them (accounts, alert rules, incidents, sources, books)."""
