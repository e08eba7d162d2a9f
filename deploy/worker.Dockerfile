# The worker/beat/api image for multi-machine deployments (the sandbox image is separate:
# sandbox_image/). Build from the repo root:  docker build -f deploy/worker.Dockerfile -t nightshift-worker .
ARG BASE=python:3.11-slim-bookworm
FROM $BASE
RUN useradd --create-home --uid 10001 nightshift
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY workers ./workers
COPY scheduler ./scheduler
COPY sandbox_image ./sandbox_image
RUN pip install --no-cache-dir .
# The worker talks to the host's Docker engine through its socket (mounted by compose/k8s); it
# needs the docker group of the host, not root. The sandboxes it starts never see that socket.
USER nightshift
CMD ["celery", "-A", "workers.main", "worker", "--loglevel", "INFO", "-O", "fair"]
