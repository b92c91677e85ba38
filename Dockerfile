# syntax=docker/dockerfile:1
# One image for every part of Cercle: each Kubernetes workload runs it with its own command
# (gunicorn for the APIs, `python -m ...` for consumers, the relay and the jobs).
# Build: docker build -t cercle:<version> .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the runtime dependencies, from the lock, into a virtual environment ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
# requirements.lock: pyproject.toml's runtime dependencies (not the dev extras), every
# package pinned at the version the tests ran, each file checked against its hash.
COPY requirements.lock ./
RUN python -m venv /opt/cercle \
    && /opt/cercle/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
       -r requirements.lock \
    && /opt/cercle/bin/pip uninstall --yes pip
WORKDIR /app
COPY cercle_common ./cercle_common
COPY services ./services
COPY gateway ./gateway
# Read by gunicorn from its working directory, /app.
COPY gunicorn.conf.py ./
# Compiled now: at run time the root file system is read-only.
RUN /opt/cercle/bin/python -m compileall -q /app /opt/cercle

# --- runtime: the interpreter, the environment and the code; no compiler, no pip ---------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 cercle \
    && useradd --system --uid 10001 --gid cercle --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin cercle
COPY --from=build /opt/cercle /opt/cercle
COPY --from=build /app /app
ENV PATH=/opt/cercle/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
EXPOSE 8080 9100
# The gateway by default; every Deployment states its own command.
CMD ["gunicorn", "--bind=0.0.0.0:8080", "--worker-class=gthread", "--workers=2", "--threads=4", "gateway.app:create_app()"]
