"""Which Django app can be cut out next and what ties it to the rest: `manage.py strangler_coupling`.

Add ``"strangler.django.coupling"`` to INSTALLED_APPS; the command reads the project's source, its
model registry and (when asked) a run's queries or OpenTelemetry spans, and reports every edge to cut.
"""
