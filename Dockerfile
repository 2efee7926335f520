# syntax=docker/dockerfile:1
# The odds platform's container image: one Faust worker per container.
#
#   docker build -t odds-platform:0.1.0 .
#   docker run --rm odds-platform:0.1.0                         # faust -A app worker -l info
#   docker run --rm odds-platform:0.1.0 create-topics           # any `faust -A app` command:
#   docker run --rm odds-platform:0.1.0 migrate                 #   migrate, generate, replay,
#   docker run --rm odds-platform:0.1.0 generate --events 20    #   simulate, ingest uof, ...
#
# Configuration is the environment of README's table. WEB_HOST is the host name this worker
# advertises to its peers (table_route redirects there): set it to a name other workers can
# resolve (compose: the service name; Kubernetes: the pod's stable DNS name). The HTTP server
# itself binds 0.0.0.0, so the HEALTHCHECK below always reaches it on 127.0.0.1.
#
# Needs BuildKit (default since Docker 23) for the bind mount of the wheels in the final stage.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# builder: wheels of the project and of every dependency pinned in pyproject.toml. Every
# compiled dependency ships manylinux wheels, so no compiler is installed here.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# Only what the package build needs: metadata first, then the packages.
COPY pyproject.toml README.md requirements.lock ./
COPY app ./app
COPY cli ./cli
COPY agents ./agents
COPY config ./config
COPY feeds ./feeds
COPY ingest ./ingest
COPY models ./models
COPY outbound ./outbound
COPY sinks ./sinks
COPY tables ./tables
COPY web ./web
RUN pip wheel --wheel-dir /wheels --constraint requirements.lock .

# ---------------------------------------------------------------------------------------------
# runtime: the wheels installed from the builder (bind-mounted: they never land in a layer),
# a non-root user and the data volume for RocksDB.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG APP_UID=10001
ARG APP_GID=10001

LABEL org.opencontainers.image.title="odds-platform" \
      org.opencontainers.image.description="Real-time sports-betting odds platform (Faust worker)"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    APP_DATADIR=/var/lib/odds \
    WEB_PORT=6066

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/odds_platform-*.whl \
 && groupadd --system --gid "${APP_GID}" odds \
 && useradd --system --uid "${APP_UID}" --gid odds --home-dir /var/lib/odds --no-create-home \
      --shell /usr/sbin/nologin odds \
 && install -d -o odds -g odds -m 0750 /var/lib/odds

# Owned by the odds user before it is declared, so a fresh volume starts out writable.
VOLUME ["/var/lib/odds"]
WORKDIR /var/lib/odds
USER ${APP_UID}:${APP_GID}

EXPOSE 6066

# python's urllib (no curl in slim): urlopen raises on a refused connection or on HTTP >= 400.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('WEB_PORT', '6066') + '/health', timeout=4).close()"]

ENTRYPOINT ["faust", "-A", "app"]
CMD ["worker", "-l", "info"]
