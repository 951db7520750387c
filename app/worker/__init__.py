"""The worker role: the ingest consumer (`consumer`), scheduled jobs (`jobs`), alert
evaluation and delivery, and the polled sources (`sources/`)."""
