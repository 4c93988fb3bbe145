"""What the Dockerfile copies is enough to run the service: its COPY lines are replayed into a
temporary /app and the project is loaded from there alone (no Docker engine needed)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

from tests.live import REPO_ROOT, SERVICE_DIR, base_env

_LOAD = """
import sys, django
django.setup()
import payments_service.urls, payments_service.wsgi, payments_service.celery  # noqa
from django.urls import get_resolver
get_resolver().url_patterns
from django.core.management import call_command
call_command("check")
import monolith, payments_service, strangler.proxy.credentials
print(monolith.__file__, payments_service.__file__, strangler.proxy.credentials.__file__)
"""


def _dockerfile() -> tuple[list[tuple[list[str], str]], dict[str, str]]:
    copies, env = [], {}
    lines = (SERVICE_DIR / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "COPY" and not words[-1].startswith("/tmp/"):
            copies.append((words[1:-1], words[-1]))
        elif words[0] == "ENV":
            env.update(w.split("=", 1) for w in words[1:])
    return copies, env


def test_the_copied_tree_runs_the_service(tmp_path):
    app = tmp_path / "app"
    copies, image_env = _dockerfile()
    for sources, dest in copies:
        for source in sources:
            src, target = REPO_ROOT / source, app / dest
            if src.is_dir():
                shutil.copytree(src, target if not dest.endswith("/") else target / src.name,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target = target / src.name if dest.endswith("/") else target
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
    assert not (app / "monolith" / "orders").exists() and not (app / "extracted" / "payments" / "var").exists()

    pythonpath = image_env["PYTHONPATH"].replace("/app", str(app))
    env = base_env(PYTHONPATH=pythonpath, DJANGO_SETTINGS_MODULE=image_env["DJANGO_SETTINGS_MODULE"],
                   VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run([sys.executable, "-c", _LOAD], cwd=app / "extracted" / "payments", env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    paths = result.stdout.splitlines()[-1].split()
    assert len(paths) == 3 and all(path.startswith(str(app)) for path in paths), result.stdout
