"""Helpers of the coupling tests: a throwaway project beside the monolith, the command run in a
child process on it, and a small JSON Schema check (the subset coupling.schema.json uses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
MONOLITH_APPS = "kernel,users,catalog,orders,payments,notifications"


def write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def run_command(tmp: Path, settings: str, *args: str, timeout: int = 240) -> tuple[dict | None, str, str]:
    """``python -m django strangler_coupling ARGS`` in a child on ``settings``; JSON when ``--json -``."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=settings, VAR_DIR=str(tmp / "var"),
               PYTHONPATH=os.pathsep.join([str(tmp), str(ROOT)]))
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "django", "strangler_coupling", *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout) if "--json" in args and "-" in args else None
    return report, done.stdout, done.stderr


def validate(value, schema: dict, root: dict | None = None, where: str = "$") -> None:
    """Raise AssertionError where ``value`` breaks ``schema`` (type, enum, required, properties,
    items, additionalProperties, $ref)."""
    root = root or schema
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    types = schema.get("type")
    if types:
        names = types if isinstance(types, list) else [types]
        ok = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
        assert any((t == "integer" and isinstance(value, int) and not isinstance(value, bool)) or
                   (t == "number" and isinstance(value, int | float) and not isinstance(value, bool)) or
                   (t in ok and isinstance(value, ok[t])) for t in names), f"{where}: not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        if value or "required" in schema:
            for key in schema.get("required", []):
                assert key in value, f"{where}: missing {key}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                validate(value[key], sub, root, f"{where}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in schema.get("properties", {}):
                    validate(item, extra, root, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], root, f"{where}[{i}]")
