# The worker/beat/api image for multi-machine deployments (the sandbox image is separate:
# sandbox_image/). Build it with deploy/build-images.sh: that collects the Python wheels on the
# build machine first (pip as set up there), so this build reaches no package index. Debian
# bookworm's own Python 3.11; any bookworm image as BASE (the script picks one, offline if need be).
ARG BASE=debian:bookworm-slim
FROM $BASE
ENV DEBIAN_FRONTEND=noninteractive PATH=/opt/nightshift/bin:$PATH PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 nightshift \
 && python3 -m venv /opt/nightshift
# Dependencies first: a change of nightshift's own code reuses this layer.
COPY deploy/build/wheels/deps /wheels/deps
RUN pip install --no-cache-dir --no-index --find-links /wheels/deps /wheels/deps/*.whl && rm -rf /wheels
COPY deploy/build/wheels/app /wheels/app
RUN pip install --no-cache-dir --no-index --no-deps /wheels/app/*.whl && rm -rf /wheels
ARG SOURCE_HASH=unknown
LABEL org.nightshift.source-hash=$SOURCE_HASH
WORKDIR /app
# The worker talks to the host's Docker engine through its socket (mounted by compose/k8s); it
# needs the docker group of the host, not root. The sandboxes it starts never see that socket.
USER nightshift
CMD ["celery", "-A", "workers.main", "worker", "--loglevel", "INFO", "-O", "fair"]
