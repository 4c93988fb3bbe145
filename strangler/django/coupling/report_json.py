"""``--json``: the report as JSON, its shape documented by coupling.schema.json beside this file."""

from __future__ import annotations

import json
from pathlib import Path

SCHEMA_FILE = Path(__file__).resolve().parent / "coupling.schema.json"


def render(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())
