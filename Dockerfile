# One image for all six services; SERVICE picks which one a container runs.

# The web app, built with Node; only its output goes into the image (the gateway serves it).
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:${PATH}"

WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.8

# Dependencies first, from the lock file, so code changes do not reinstall them.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-default-groups --no-install-project

COPY shared ./shared
COPY gateway ./gateway
COPY user_service ./user_service
COPY expense_service ./expense_service
COPY budget_service ./budget_service
COPY analytics_service ./analytics_service
COPY notification_service ./notification_service
COPY --from=web /web/dist ./web/dist

RUN useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /data \
    && chown app /data
USER 10001

ENV SERVICE=gateway PORT=8000 DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health', timeout=2)"]
CMD ["sh", "-c", "exec python -m shared.server \"${SERVICE}\" --host 0.0.0.0 --port \"${PORT}\""]
