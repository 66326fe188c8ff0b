# One image for all six services; SERVICE picks which one a container runs.
#
# The build stages reach npm and PyPI trusting BUILD_CA_IMAGE's
# /etc/ssl/certs/ca-certificates.crt: by default the Python base image's own bundle. Behind an
# intercepting proxy, deploy/offline-images.sh makes an image holding the machine's bundle
# (deploy/docker-compose.offline.yml passes it). Only build stages see it: the final image
# keeps its base image's certificates and nothing else.
ARG BUILD_CA_IMAGE=python:3.11-slim-bookworm
FROM ${BUILD_CA_IMAGE} AS build-ca

# The web app, built with Node; only its output goes into the image (the gateway serves it).
FROM node:20-bookworm-slim AS web
COPY --from=build-ca /etc/ssl/certs/ca-certificates.crt /tmp/build-ca.crt
ENV NODE_EXTRA_CA_CERTS=/tmp/build-ca.crt
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# The dependencies, from the lock file, into /app/.venv; uv and pip stay in this stage.
FROM python:3.11-slim-bookworm AS build
COPY --from=build-ca /etc/ssl/certs/ca-certificates.crt /tmp/build-ca.crt
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    SSL_CERT_FILE=/tmp/build-ca.crt \
    PIP_CERT=/tmp/build-ca.crt
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-default-groups --no-install-project --no-cache

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:${PATH}"

WORKDIR /app
# The PDF statement's fallback fonts (analytics_service/pdf_report.py): CJK, Hangul (only the
# one face it uses of fonts-nanum's 33 MB), emoji.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-droid-fallback fonts-nanum fonts-symbola \
    && find /usr/share/fonts/truetype/nanum -type f ! -name NanumGothic.ttf -delete \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /data \
    && chown app /data

COPY --from=build /app/.venv ./.venv
COPY shared ./shared
COPY gateway ./gateway
COPY user_service ./user_service
COPY expense_service ./expense_service
COPY budget_service ./budget_service
COPY analytics_service ./analytics_service
COPY notification_service ./notification_service
COPY --from=web /web/dist ./web/dist
# Compiled once here: the processes run as a user who cannot write /app.
RUN python -m compileall -q shared gateway user_service expense_service budget_service \
    analytics_service notification_service

USER 10001

ENV SERVICE=gateway PORT=8000 DATA_DIR=/data
EXPOSE 8000
# Healthy means ready: /ready answers 200 only when the service's dependencies do.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/ready', timeout=4)"]
# uvicorn is PID 1 (exec) and stops on SIGTERM: open requests get 5 s, within compose's 10.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec python -m shared.server \"${SERVICE}\" --host 0.0.0.0 --port \"${PORT}\""]
