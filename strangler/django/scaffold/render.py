"""Templates to files: every ``*.tmpl`` under ``templates/service/`` becomes a file of the service,
filled in with ``%%{name}`` placeholders (a ``%%`` delimiter: ``$`` and ``{}`` are common in the
files themselves). A placeholder the plan does not fill is an error, never left in a file."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

TEMPLATES = Path(__file__).resolve().parent / "templates" / "service"
FRAGMENTS = TEMPLATES.parent / "fragments"  # filled in once per item of a list (e.g. a route per prefix)
SUFFIX = ".tmpl"
# Template paths whose service path is not the template's own (the package folder, named files).
PACKAGE_DIR = "package"
RENAMED = {
    "deploy/k8s/web.yaml": "deploy/k8s/{target}.yaml",
    "deploy/k8s/config.yaml": "deploy/k8s/{target}-config.yaml",
    "deploy/k8s/worker.yaml": "deploy/k8s/{target}-worker.yaml",
    "deploy/k8s/relay.yaml": "deploy/k8s/{target}-relay.yaml",
    "deploy/k8s/migrate.yaml": "deploy/k8s/{target}-migrate.yaml",
}


class _Template(string.Template):
    delimiter = "%%"


@dataclass(frozen=True)
class RenderedFile:
    path: PurePosixPath  # relative to the service folder
    text: str

    @property
    def lines(self) -> int:
        return len(self.text.splitlines())


def service_render(variables: dict[str, str]) -> list[RenderedFile]:
    """Every file of the service, in path order; KeyError names a placeholder without a value."""
    rendered = []
    for template in sorted(TEMPLATES.rglob(f"*{SUFFIX}")):
        relative = template.relative_to(TEMPLATES).as_posix().removesuffix(SUFFIX)
        text = _Template(template.read_text()).substitute(variables)
        rendered.append(RenderedFile(path=_service_path(relative, variables), text=text))
    return sorted(rendered, key=lambda f: f.path)


def fragment_render(name: str, variables: dict[str, str]) -> str:
    """``templates/fragments/<name>.tmpl`` filled in; KeyError names a placeholder without a value."""
    return _Template((FRAGMENTS / f"{name}{SUFFIX}").read_text()).substitute(variables)


def _service_path(relative: str, variables: dict[str, str]) -> PurePosixPath:
    if relative in RENAMED:
        return PurePosixPath(RENAMED[relative].format(**variables))
    parts = PurePosixPath(relative).parts
    if parts[0] == PACKAGE_DIR:
        return PurePosixPath(variables["package"], *parts[1:])
    return PurePosixPath(relative)
