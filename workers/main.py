"""Process entry point for Celery: ``celery -A workers.main worker`` / ``celery -A workers.main beat``.

This module *is* the process's main: it reads the settings and builds the app when Celery imports
it. Library modules stay free of import-time side effects.
"""

from __future__ import annotations

from core import logs
from core.settings import load_settings
from workers.app import create_app

settings = load_settings()
logs.configure(settings)
app = create_app(settings)
