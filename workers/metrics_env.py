"""Set before prometheus-client is first imported (it picks its value store at import): the worker's
prefork children then write their metrics to files the main process sums (see workers/metrics.py).
Imports nothing of prometheus-client itself."""

from __future__ import annotations

import os
import tempfile


def prepare_multiprocess_metrics() -> None:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="nightshift-metrics-")
