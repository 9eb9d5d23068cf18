"""One mechanism for background jobs (imports, re-deciding, agreement reports, dataset releases):
the abstract model every job row inherits (models), the services that queue, claim, watch, end,
recover and retry them (services), how they read for pages and the API (selectors, api), and the
sweeper each Celery worker runs (worker). Apps register their kinds in AppConfig.ready."""
