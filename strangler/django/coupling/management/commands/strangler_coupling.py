"""manage.py strangler_coupling: which app to cut next and every edge in the way (see the README)."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from strangler.django.coupling import analyse, report_html, report_json, report_text


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


class Command(BaseCommand):
    help = "Coupling between the project's apps: edges to cut per app, partition metrics, contracts."
    requires_system_checks = []  # a report reads the project as it is, half-configured ones too

    def add_arguments(self, parser):
        parser.add_argument("--apps", help="app labels or names to analyse (default: apps under BASE_DIR)")
        parser.add_argument("--shared", help="apps taken as a shared kernel (edges into them cost 0)")
        parser.add_argument("--partition", help='services to cut: "payments,catalog" ("a+b" groups apps)')
        parser.add_argument("--interface-modules", default="interface,events",
                            help="modules that are a context's published interface")
        parser.add_argument("--include-tests", action="store_true", help="read test modules too")
        parser.add_argument("--run", help='a command to run with the query recorder, e.g. "pytest -x -q"')
        parser.add_argument("--traces", type=Path, help="OpenTelemetry spans as JSON (db.statement)")
        parser.add_argument("--json", nargs="?", const="-", help="write JSON (to FILE, or stdout)")
        parser.add_argument("--html", type=Path, help="write a self-contained HTML page")

    def handle(self, *args, **opts):
        def progress(message: str) -> None:
            print(f"[coupling] {message}", file=sys.stderr, flush=True)

        try:
            report = analyse.build(
                apps=_csv(opts["apps"]), shared=_csv(opts["shared"]), partition=opts["partition"],
                interface_modules=tuple(_csv(opts["interface_modules"]) or ()),
                include_tests=opts["include_tests"], dynamic=_dynamic(opts, progress), progress=progress)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        if opts["json"] == "-":
            self.stdout.write(report_json.render(report), ending="")
        else:
            if opts["json"]:
                Path(opts["json"]).write_text(report_json.render(report))
            self.stdout.write(report_text.render(report))
        if opts["html"]:
            opts["html"].write_text(report_html.render(report))
        part = report["partition"]
        progress(f"done in {report['seconds']} s: {len(report['edges'])} edges, "
                 f"{len(report['candidates'])} candidates, cheapest "
                 f"{report['candidates'][0]['app'] if report['candidates'] else '-'}; partition "
                 f"{' | '.join('+'.join(g) for g in part['services'])}: ICP {part['metrics']['icp']}")


def _dynamic(opts, progress):
    if not opts["run"] and not opts["traces"]:
        return None

    def collect(project):
        from strangler.django.coupling import dynamic, traces

        edges, internal, summary = [], [], None
        if opts["run"]:
            edges, internal, summary = dynamic.analyse_records(
                project, dynamic.run_recorded(opts["run"], progress)).results()
        if opts["traces"]:
            more, more_internal, summary = traces.analyse_traces(project, opts["traces"]).results()
            edges, internal = edges + more, internal + more_internal
        return edges, internal, summary

    return collect
