"""Scaffold one service: describe the context, plan its names, render the templates, write them
all into a folder that is new (or empty). Every check runs before the first file is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.apps import apps

from strangler.django.scaffold.context import context_describe
from strangler.django.scaffold.plan import ServicePlan
from strangler.django.scaffold.render import RenderedFile, service_render

EXECUTABLE = 0o755  # manage.py


class ScaffoldError(Exception):
    """Why nothing was written."""


@dataclass(frozen=True)
class ScaffoldResult:
    plan: ServicePlan
    files: list[RenderedFile]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)


def service_scaffold(*, label: str, out: Path, port: int) -> ScaffoldResult:
    """Write the service of the installed app ``label`` into ``out``; ScaffoldError, and no file, if it cannot."""
    try:
        context = context_describe(label=label)
    except LookupError:
        known = ", ".join(sorted(c.label for c in apps.get_app_configs()))
        raise ScaffoldError(f"unknown context {label!r}: no installed app has that label (installed: {known})") from None
    if not context.models:
        raise ScaffoldError(f"context {label!r} has no models: there is nothing for an extraction spec to copy")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScaffoldError(f"{out} already exists and is not empty: nothing written (remove it or choose another --to)")
    plan = ServicePlan(context=context, out=out, port=port)
    files = service_render(plan.variables())
    for file in files:
        path = out / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.text)
        if file.path.name == "manage.py":
            path.chmod(EXECUTABLE)
    return ScaffoldResult(plan=plan, files=files)
