"""The control plane: task specs, run records, the CLI, cron and the HTTP enqueue API.

It owns the contracts the workers consume (spec, settings, Redis keys, run records) and enqueues
Celery tasks by name; it never imports ``workers`` (nor docker or pillow).
"""
