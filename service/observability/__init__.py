"""What an operator sees of the running service: Prometheus metrics and structured logs.

- `context`: the request, organization and job a log line is about (contextvars)
- `logs`: `configure_logging(settings)`, JSON or text lines on stdout, secrets redacted
- `metrics`: `ServiceMetrics`, the app's own Prometheus registry and the scrape-time store gauges
- `http`: `install_observability(app, settings)`, the request middleware and the metrics' wiring

Import the submodules themselves: this package's `__init__` stays empty so that low layers (the
job recorder binds its job to the log context) can import `context` without pulling in FastAPI.
"""
