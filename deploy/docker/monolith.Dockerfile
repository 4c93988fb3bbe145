# The monolith image: one image for the web process (gunicorn), the Celery worker and beat, the
# outbox relay and the one-shot migrations. Build from the repository root:
#   docker build -f deploy/docker/monolith.Dockerfile -t strangler-kit/monolith .
# No secret is baked in and DEBUG is off, so the settings refuse to start without SECRET_KEY and
# INTERNAL_AUTH_SECRET; every setting comes from the environment (see docker-compose.yml).
#   ... monolith python manage.py migrate --noinput
#   ... monolith celery -A monolith.config worker -Q monolith
#   ... monolith python manage.py relay_outbox --loop
FROM python:3.11-slim

# Extras of pyproject.toml to install (tracing: OpenTelemetry, exporting only when OTEL_EXPORTER_OTLP_ENDPOINT is set).
ARG EXTRAS="monolith,tracing"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=0 \
    VAR_DIR=/var/lib/monolith \
    DJANGO_SETTINGS_MODULE=monolith.config.settings \
    PYTHONPATH=/app

# Dependencies first, in a layer that changes only with the pins: the project's direct pins
# (base dependencies plus EXTRAS) resolved against constraints.txt, so every transitive version is
# the one the tests ran with. The project itself is not pip-installed: its packages are copied below.
COPY constraints.txt /tmp/constraints.txt
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import sys, tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; extras = sys.argv[1].split(','); print('\n'.join(p['dependencies'] + [d for e in extras if e for d in p['optional-dependencies'][e]]))" "$EXTRAS" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt -c /tmp/constraints.txt \
    && rm /tmp/requirements.txt /tmp/constraints.txt /tmp/pyproject.toml

# The monolith (every context), the strangler package (internal credentials, the route store the
# payments switch follows) and manage.py; tests are left out by .dockerignore.
WORKDIR /app
COPY manage.py manage.py
COPY strangler strangler
COPY monolith monolith

RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin monolith \
    && mkdir -p "$VAR_DIR" && chown monolith "$VAR_DIR"
USER monolith

EXPOSE 8001
# Sends a Host the settings allow (the first ALLOWED_HOSTS entry), or Django would answer 400.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request as u; h = os.environ.get('ALLOWED_HOSTS', '127.0.0.1').split(',')[0].lstrip('.'); h = '127.0.0.1' if h in ('', '*') else h; u.urlopen(u.Request('http://127.0.0.1:8001/healthz', headers={'Host': h}), timeout=2)" || exit 1

CMD ["gunicorn", "monolith.config.wsgi", "-b", "0.0.0.0:8001", "-k", "gthread", "--threads", "8", \
     "--access-logfile", "-", "--keep-alive", "75", "--worker-tmp-dir", "/dev/shm"]
