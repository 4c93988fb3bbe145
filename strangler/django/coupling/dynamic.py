"""Run-time coupling: queries that touch another app's tables, transactions that span apps and
cross-app queries per request, from a command run under the recorder (``--run``) or from
OpenTelemetry spans with ``db.statement`` (``--traces``)."""

from __future__ import annotations

import glob
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from django.urls import Resolver404, resolve

from .graph import Edge, relative
from .project import Project, is_test
from .static_sql import table_index, tables_in

HOOK = Path(__file__).resolve().parent / "hook"


def run_recorded(command: str, progress=print) -> list[dict]:
    """Run ``command`` with the recorder loaded in every Python child; return its query records."""
    with tempfile.TemporaryDirectory(prefix="strangler-coupling-") as tmp:
        env = dict(os.environ, STRANGLER_COUPLING_TRACE=str(Path(tmp) / "queries"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK), env.get("PYTHONPATH", "")) if p)
        progress(f"running under the query recorder: {command}")
        # Its output goes to stderr: stdout is the report's (``--json -``).
        done = subprocess.run(shlex.split(command), env=env, check=False, stdout=sys.stderr)
        progress(f"command exited {done.returncode}")
        records = []
        for name in sorted(glob.glob(str(Path(tmp) / "queries.*"))):
            with open(name) as fh:
                records += [json.loads(line) for line in fh if line.strip()]
    progress(f"{len(records)} queries recorded")
    return records


class Analysis:
    """Turns query records into edges (counted) and per-request / per-transaction summaries."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.tables = table_index(project)
        self.edges: Counter[tuple] = Counter()
        self.internal: Counter[tuple[str, str]] = Counter()
        self.per_request: dict[object, Counter[str]] = defaultdict(Counter)
        self.tx: dict[object, dict] = {}

    def _caller(self, frames: list) -> tuple[str, str, int] | None:
        for path, line in frames:
            app = self.project.app_of_path(str(Path(path).resolve())) if path else None
            if app and (self.project.include_tests or not is_test(Path(path).parts)):
                return app, path, line
        return None

    def _module_of(self, path: str, app: str) -> str:
        node = self.project.apps[app]
        rel = Path(path).resolve().relative_to(node.path).with_suffix("")
        return ".".join([node.name, *[p for p in rel.parts if p != "__init__"]])

    def _request_app(self, path: str | None) -> str | None:
        if not path:
            return None
        try:
            return self.project.app_of_module(resolve(path).func.__module__)
        except (Resolver404, AttributeError):
            return None

    def add(self, sql: str, frames: list, tx=None, request=None, request_path=None, tx_frames=()) -> None:
        hits = tables_in(sql, self.tables)
        caller = self._caller(frames)
        owner = self._request_app(request_path) if request else None
        for table, app, _model, module in hits:
            if caller:
                src_app, path, line = caller
                src_module = self._module_of(path, src_app)
                if app != src_app:
                    self.edges[("query", src_app, app, relative(path, self.project.root), line,
                                f"{sql.split()[0].upper()} {table}", src_module, module)] += 1
                else:
                    self.internal[(src_module, module)] += 1
            if request is not None:
                self.per_request[request][app] += 1
                self.per_request[request]["__owner__"] = 0
                if owner:
                    self.per_request[request][f"__owner__{owner}"] = 1
            if tx is not None:
                entry = self.tx.setdefault(tx, {"apps": Counter(), "caller": self._caller(tx_frames) or caller})
                entry["apps"][app] += 1

    def transaction_edges(self) -> list[Edge]:
        out: Counter[tuple] = Counter()
        for entry in self.tx.values():
            apps = set(entry["apps"]) - self.project.shared  # the outbox in the same transaction is the pattern
            caller = entry["caller"]
            if len(apps) < 2 or caller is None:
                continue
            src_app, path, line = caller
            for other in sorted(apps - {src_app}):
                out[("transaction", src_app, other, relative(path, self.project.root), line,
                     f"one transaction over {', '.join(sorted(apps))}", self._module_of(path, src_app),
                     self.project.apps[other].name)] += 1
        return [Edge(*k, count=c) for k, c in out.items()]

    def results(self) -> tuple[list[Edge], list[tuple[str, str, int]], dict]:
        edges = [Edge(*k, count=c) for k, c in self.edges.items()] + self.transaction_edges()
        internal = [(a, b, c) for (a, b), c in self.internal.items()]
        return edges, internal, self.summary()

    def summary(self) -> dict:
        crossing = []
        for counts in self.per_request.values():
            owner = next((k[9:] for k in counts if k.startswith("__owner__") and len(k) > 9), None)
            apps = {k: v for k, v in counts.items()
                    if not k.startswith("__owner__") and k not in self.project.shared}
            owner = owner or (max(apps, key=apps.get) if apps else None)
            crossing.append(sum(v for k, v in apps.items() if k != owner))
        spanning = sum(1 for e in self.tx.values() if len(set(e["apps"]) - self.project.shared) > 1)
        return {"requests": len(crossing), "cross_app_queries_per_request":
                round(sum(crossing) / len(crossing), 3) if crossing else 0.0,
                "max_cross_app_queries_in_a_request": max(crossing, default=0),
                "transactions": len(self.tx), "transactions_spanning_apps": spanning}


def analyse_records(project: Project, records: list[dict]) -> Analysis:
    analysis = Analysis(project)
    for r in records:
        request = r.get("request") or [None, None]
        tx = r.get("tx") or [None, []]
        analysis.add(r["sql"], r.get("frames", []), tx[0], request[0], request[1], tx[1])
    return analysis
