# syntax=docker/dockerfile:1
# alertbridge: forwards Alertmanager alerts and kube-eventer events to Feishu, DingTalk and WeCom.
#
#   docker build -t registry.example.com/ops/alertbridge:0.1.0 .
#   docker run -p 8080:8080 -e ALERTBRIDGE_FEISHU_URL=... -v alertbridge-data:/var/lib/alertbridge \
#     registry.example.com/ops/alertbridge:0.1.0
#
# Port: 8080 (HTTP: POST /alertmanager, GET|POST /kube-eventer, GET /status, GET /metrics).
# Volume: /var/lib/alertbridge, the data directory (--data-dir): queued messages live there.
# Config: with no --config, alertbridge builds one from ALERTBRIDGE_FEISHU_URL,
#   ALERTBRIDGE_DINGTALK_URL, ALERTBRIDGE_WECOM_URL (each with an optional ..._SECRET); with
#   --config /etc/alertbridge/config/alertbridge.yaml, any ${VAR} in it comes from the environment.
# Cards: the built-in cards are inside the image (package data of the wheel). To override some,
#   mount your files at /etc/alertbridge/cards/<platform>/ and set server.cards_dir to
#   /etc/alertbridge/cards in the config.
# User: 10001, non-root; the container needs no writable path but the data directory.
# Dependencies: exactly those of requirements.lock, hash-checked and from wheels only (nothing is
#   compiled). It is uv.lock exported by the command in its first lines: run that after `uv lock`.

# The base, pinned by digest: python:3.11.16-slim-bookworm as docker-library/repo-info records it
# (built 2026-09-01). A newer one: docker buildx imagetools inspect python:3.11-slim-bookworm.
ARG PYTHON_BASE=python:3.11.16-slim-bookworm
ARG PYTHON_DIGEST=sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f

# Build stage: wheels of the locked dependencies and of the project, so that the runtime stage
# installs offline and carries no build tools or pip cache.
FROM ${PYTHON_BASE}@${PYTHON_DIGEST} AS build
WORKDIR /src
COPY requirements.lock ./
RUN pip wheel --no-cache-dir --require-hashes --only-binary=:all: --wheel-dir /wheels \
        -r requirements.lock
RUN pip install --no-cache-dir build
COPY pyproject.toml README.md LICENSE ./
COPY app ./app
COPY cards ./cards
RUN python -m build --wheel --outdir /dist .

FROM ${PYTHON_BASE}@${PYTHON_DIGEST}
ARG PYTHON_BASE
ARG PYTHON_DIGEST
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="alertbridge" \
      org.opencontainers.image.description="Forwards Prometheus Alertmanager alerts and kube-eventer events to Feishu, DingTalk and WeCom bots" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/${PYTHON_BASE}" \
      org.opencontainers.image.base.digest="${PYTHON_DIGEST}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    ALERTBRIDGE_DATA_DIR=/var/lib/alertbridge \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin alertbridge \
    && install -d -o alertbridge -g alertbridge -m 0750 /var/lib/alertbridge \
    && install -d -m 0755 /etc/alertbridge/config /etc/alertbridge/cards
RUN --mount=type=bind,from=build,source=/src/requirements.lock,target=/tmp/requirements.lock \
    --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --find-links=/wheels --require-hashes \
        -r /tmp/requirements.lock \
    && pip install --no-cache-dir --no-index --no-deps /dist/alertbridge-*.whl
USER 10001:10001
WORKDIR /var/lib/alertbridge
VOLUME ["/var/lib/alertbridge"]
EXPOSE 8080
# The slim image has no curl; Python is there anyway.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/status', timeout=4)"]
ENTRYPOINT ["alertbridge"]
# One process, one uvicorn worker: every receiver has one worker task and one rate limiter, which
# a second process would double.
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/var/lib/alertbridge"]
