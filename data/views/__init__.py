"""Page view-models: what the overview and /explore show, and file exports of a query."""
