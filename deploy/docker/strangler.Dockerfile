# The strangler proxy image: `pip install .` (uvloop, httptools, no Django) plus the store's
# backends (PostgreSQL for a store shared by replicas, Redis for change propagation).
# Build from the repository root:
#   docker build -f deploy/docker/strangler.Dockerfile -t strangler-kit/strangler .
# The route table is not baked in: mount it at /etc/strangler/routes.toml (docker-compose.yml
# mounts deploy/compose/routes.toml, Kubernetes a ConfigMap). Secrets come from the variables the
# table names (admin token_env, credential secret_env, override_secret_env) and PGPASSWORD.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STRANGLER_CONFIG=/etc/strangler/routes.toml

# Dependencies first (their own layer): the proxy's pins and the postgres, redis and tracing extras, resolved
# against constraints.txt; then the package itself without dependencies.
COPY constraints.txt /tmp/constraints.txt
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; o = p['optional-dependencies']; print('\n'.join(p['dependencies'] + o['postgres'] + o['redis'] + o['tracing']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt -c /tmp/constraints.txt \
    && rm /tmp/requirements.txt

WORKDIR /src
COPY pyproject.toml README.md ./
COPY strangler strangler
RUN pip install --no-deps . \
    && cd / && rm -rf /src /tmp/constraints.txt /tmp/pyproject.toml

RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin strangler
USER strangler
WORKDIR /

EXPOSE 8000 8100
# The admin API needs the bearer token even for /healthz; the check reads it from the environment.
# 200 means the proxy's event loop answers and the route store can be read.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8100/healthz', headers={'Authorization': 'Bearer ' + os.environ['STRANGLER_ADMIN_TOKEN']}), timeout=2)" || exit 1

CMD ["strangler", "--config", "/etc/strangler/routes.toml", "serve"]
