"""Point prometheus-client at a multiprocess directory before any metric exists: the worker's
prefork children then write their metrics to files the main process sums (see workers/metrics.py).
prometheus-client picks its value store when it is imported, and Celery may have imported it
already (Flower's command plugin does): the store is chosen again here."""

from __future__ import annotations

import os
import sys
import tempfile


def prepare_multiprocess_metrics() -> None:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nightshift-metrics-")
    values = sys.modules.get("prometheus_client.values")
    if values is not None:
        setattr(values, "ValueClass", values.get_value_class())  # noqa: B010 - a module attribute
