# Countersign: the Slack bot (`python -m bot`) in a slim image.
#
#   docker build -t countersign .
#   docker run --env-file .env -p 3000:3000 --stop-timeout 30 countersign
#
# docker-compose.yml runs it against PostgreSQL, with several replicas behind nginx.

# --- builder: resolve the locked dependencies into /app/.venv --------------------------------
FROM python:3.11-slim-bookworm AS builder

# The same uv as the one that wrote uv.lock (`uv --version`).
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/

# Compile bytecode at build time (faster start); copy files out of the cache mount rather than
# link them; use the image's Python 3.11, never a downloaded one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0

WORKDIR /app

# Dependencies first, without the project: this layer is rebuilt only when the lock changes.
# --no-dev leaves out the [dependency-groups] dev group (pytest, mypy, ruff, playwright, …).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project

# Then the project itself. It is a hatchling package (agent, bot, playground), installed
# editable: the venv points at /app, where the final stage puts the same source. hatchling
# reads README.md for the package's metadata, so it comes along.
COPY pyproject.toml uv.lock README.md ./
COPY agent ./agent
COPY bot ./bot
COPY playground ./playground
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev \
    && python -m compileall -q agent bot playground

# --- final: the venv and the source, run as an unprivileged user ------------------------------
FROM python:3.11-slim-bookworm

RUN groupadd --system --gid 10001 countersign \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/countersign \
        --shell /usr/sbin/nologin countersign \
    && mkdir /data \
    && chown countersign:countersign /data

WORKDIR /app

# Root owns the code; the bot can write only to /data (and /tmp).
COPY --from=builder /app/.venv /app/.venv
# `python -m bot` imports agent/, bot/ and playground/ (the playground opens when no Slack
# setting is set).
COPY --from=builder /app/agent /app/agent
COPY --from=builder /app/bot /app/bot
COPY --from=builder /app/playground /app/playground

# LITELLM_LOCAL_MODEL_COST_MAP: litellm reads its bundled model price list instead of fetching
# one at import.
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    HOST=0.0.0.0 \
    PORT=3000

USER 10001:10001

# Run from /data, the one directory this user may write: the default (and .env.example's)
# DATABASE_URL=sqlite:///./countersign.db then lands in /data. The code is found through the
# venv (an editable install of /app). docker-compose.yml sets a PostgreSQL URL instead.
WORKDIR /data

EXPOSE 3000

# /healthz answers 200 when ready, 503 while starting or draining; urlopen raises on the 503.
# The slim image has no curl, so Python asks.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# On SIGTERM the bot stops taking new work and gives answers in progress
# SHUTDOWN_GRACE_SECONDS (20 by default) to finish: stop it with a longer timeout than
# Docker's default 10 s (`docker stop -t 30`, compose's stop_grace_period).
STOPSIGNAL SIGTERM

CMD ["python", "-m", "bot"]
