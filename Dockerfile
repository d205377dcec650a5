# healthsuite in a container: `docker build -t healthsuite .` then, with the environment files of a
# directory mounted at /environments and a writable volume at /reports:
#
#   docker run --rm --read-only --tmpfs /tmp \
#     -v "$PWD/environments:/environments:ro" -v healthsuite-reports:/reports \
#     --env-file production.secrets.env healthsuite --env production -m critical
#
# Read-only root filesystem: nothing is written outside /reports (the JSON report, latest.json, the
# run-to-run history, JUnit) and /tmp (HOME and TMPDIR); no bytecode, no .pytest_cache.
# Secrets: as environment variables (--env-file, a Kubernetes Secret through envFrom), or a KEY=VALUE
# file mounted read-only where the environment file's `secrets_file:` points (e.g. /run/secrets/healthsuite.env).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY healthsuite ./healthsuite
COPY checks ./checks
# The package, its dependencies and the shipped checks (installed as healthsuite_checks); the source is
# not kept. The run directory holds only `environments`, a link to the mounted /environments, so
# `--env NAME` finds /environments/NAME.yaml and pytest collects the shipped checks and nothing else.
RUN pip install --no-cache-dir . \
    && rm -rf /src \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin healthsuite \
    && mkdir -p /srv/healthsuite /environments /reports \
    && ln -s /environments /srv/healthsuite/environments \
    && chown 10001:10001 /reports

# PYTEST_ADDOPTS, not the entrypoint, so that a command of your own keeps them
ENV HOME=/tmp \
    TMPDIR=/tmp \
    PYTEST_ADDOPTS="-p no:cacheprovider --reports-dir /reports"

WORKDIR /srv/healthsuite
VOLUME ["/reports", "/tmp"]
# numeric, so that Kubernetes' runAsNonRoot can verify it
USER 10001:10001

ENTRYPOINT ["python", "-m", "pytest"]
CMD ["--env", "production", "--junitxml", "/reports/junit.xml", "-q"]
