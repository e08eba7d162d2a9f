"""Process entry point for Celery: ``celery -A workers.main worker`` / ``celery -A workers.main beat``.

This module *is* the process's main: it reads the settings and builds the app when Celery imports
it. Library modules stay free of import-time side effects.
"""

from __future__ import annotations

from workers.metrics_env import prepare_multiprocess_metrics

prepare_multiprocess_metrics()  # before anything imports prometheus-client

from core import logs  # noqa: E402
from core.settings import load_settings  # noqa: E402
from workers.app import create_app  # noqa: E402

settings = load_settings()
logs.configure(settings)
app = create_app(settings)
