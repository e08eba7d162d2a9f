# Redis for deploy/docker-compose.yml, from Debian bookworm's package (Redis 7.0), for machines
# with no registry: deploy/build-images.sh builds it. Runs as the redis user from the start.
ARG BASE=debian:bookworm-slim
FROM $BASE
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o redis -g redis /data
ARG SOURCE_HASH=unknown
LABEL org.nightshift.source-hash=$SOURCE_HASH
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
