"""Inside the child of ``--run``: one JSON line per query (SQL, calling frames, the transaction and
the request it ran in), installed on every new connection through ``connection.execute_wrapper``."""

from __future__ import annotations

import itertools
import json
import os
import sys
import threading

_serial = itertools.count(1)
_local = threading.local()
_SKIP = ("/django/", "/strangler/django/coupling/", "/importlib/", "<frozen", "/pytest_django/")


def _frames(limit: int = 8) -> list[list]:
    out, frame = [], sys._getframe(2)
    while frame is not None and len(out) < limit:
        name = frame.f_code.co_filename
        if not any(s in name for s in _SKIP):
            out.append([name, frame.f_lineno])
        frame = frame.f_back
    return out


def install(path: str) -> None:
    from django.core import signals as request_signals
    from django.db import transaction
    from django.db.backends.signals import connection_created

    sink = open(f"{path}.{os.getpid()}", "a", buffering=1)  # noqa: SIM115 - open for the process's life

    def execute(run, sql, params, many, context):
        conn = context["connection"]
        stack = getattr(conn, "_strangler_tx", [])
        real = [s for block, s in zip(conn.atomic_blocks, stack, strict=False) if not block._from_testcase]
        record = {"sql": str(sql)[:4000], "frames": _frames(), "tx": real[0] if real else None,
                  "request": getattr(_local, "request", None), "alias": conn.alias}
        sink.write(json.dumps(record) + "\n")
        return run(sql, params, many, context)

    def on_connection(sender, connection, **kwargs):
        if execute not in connection.execute_wrappers:
            connection.execute_wrappers.append(execute)

    enter, leave = transaction.Atomic.__enter__, transaction.Atomic.__exit__

    def atomic_enter(self):
        conn = transaction.get_connection(self.using)
        conn.__dict__.setdefault("_strangler_tx", []).append([next(_serial), _frames(3)[:1]])
        return enter(self)

    def atomic_exit(self, *exc):
        try:
            return leave(self, *exc)
        finally:
            stack = transaction.get_connection(self.using).__dict__.get("_strangler_tx")
            if stack:
                stack.pop()

    def request_started(sender, environ=None, scope=None, **kwargs):
        path = (environ or {}).get("PATH_INFO") or (scope or {}).get("path")
        _local.request = [next(_serial), path]

    def request_finished(sender, **kwargs):
        _local.request = None

    transaction.Atomic.__enter__, transaction.Atomic.__exit__ = atomic_enter, atomic_exit
    connection_created.connect(on_connection, weak=False)
    request_signals.request_started.connect(request_started, weak=False)
    request_signals.request_finished.connect(request_finished, weak=False)
