"""Coupling report benchmark: a generated Django project of 300 apps x 10 models (cross-app foreign
keys, imports, model use, signals and raw SQL in every app) gets its static report through
`manage.py strangler_coupling`; the reference, measured in the same run, is what any static tool
pays before it reads anything: `django.setup()` of the same project plus `ast.parse` of all its files.

    python bench/coupling.py [--apps 300] [--models 10]

Prints progress and a summary and writes bench/results/coupling.json. Target: < 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "coupling.json"
TARGET_S = 30.0

REFERENCE = """
import ast, pathlib, django
django.setup()
n = 0
for path in pathlib.Path(".").rglob("*.py"):
    ast.parse(path.read_bytes()); n += 1
print(n)
"""


def generate(base: Path, apps: int, models: int) -> None:
    for i in range(apps):
        app = base / f"app{i:03d}"
        app.mkdir()
        prev, prev2 = f"app{(i - 1) % apps:03d}", f"app{(i - 2) % apps:03d}"
        (app / "__init__.py").write_text("")
        lines = ["from django.db import models", "", ""]
        for j in range(models):
            lines += [f"class M{j}(models.Model):", "    name = models.CharField(max_length=40)",
                      f'    other = models.ForeignKey("{prev}.M{j}", on_delete=models.CASCADE, related_name="+")']
            if j:
                lines.append(f"    parent = models.ForeignKey(M{j - 1}, on_delete=models.CASCADE)")
            lines += ["", ""]
        (app / "models.py").write_text("\n".join(lines).rstrip() + "\n")
        (app / "services.py").write_text(
            f"from django.db import connection\n\nfrom {prev}.models import M0\n\nfrom .models import M1\n\n\n"
            f"def touch():\n    M1.objects.filter(other__name='x')\n    return M0.objects.count()\n\n\n"
            f"def raw():\n    with connection.cursor() as c:\n"
            f"        c.execute('SELECT COUNT(*) FROM {prev2}_m3')\n        return c.fetchone()\n")
        (app / "handlers.py").write_text(
            f"from django.db.models.signals import post_save\nfrom django.dispatch import receiver\n\n"
            f"from {prev} import models as upstream\n\n\n"
            f"@receiver(post_save, sender=upstream.M2)\ndef saved(sender, instance, **kwargs):\n    return instance\n")
        (app / "interface.py").write_text("from .services import touch\n\n__all__ = ['touch']\n")
        (app / "views.py").write_text(f"from {prev2}.interface import touch\n\n\ndef view(request):\n"
                                      f"    return touch()\n")
    names = ", ".join(f'"app{i:03d}"' for i in range(apps))
    (base / "bench_settings.py").write_text(
        f"from pathlib import Path\n\nBASE_DIR = Path(__file__).resolve().parent\nSECRET_KEY = 'bench'\n"
        f"INSTALLED_APPS = [{names}, 'strangler.django.coupling']\n"
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}}}}\n"
        f"DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'\n")


def timed(args: list[str], cwd: Path, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"failed: {' '.join(args)}\n{done.stderr[-3000:]}")
    return elapsed, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=300)
    parser.add_argument("--models", type=int, default=10)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coupling-bench-") as tmp:
        base = Path(tmp)
        print(f"generating {opts.apps} apps x {opts.models} models in {base}", file=sys.stderr, flush=True)
        generate(base, opts.apps, opts.models)
        files = sum(1 for _ in base.rglob("*.py"))
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench_settings",
                   PYTHONPATH=os.pathsep.join([str(base), str(ROOT)]))
        print(f"{files} files; reference: django.setup() + ast.parse of every file", file=sys.stderr, flush=True)
        reference, _ = timed([sys.executable, "-c", REFERENCE], base, env)
        print(f"reference {reference:.2f} s; now the static report", file=sys.stderr, flush=True)
        out = base / "report.json"
        wall, done = timed([sys.executable, "-m", "django", "strangler_coupling", "--json", str(out)], base, env)
        report = json.loads(out.read_text())
    kinds: dict[str, int] = {}
    for e in report["edges"]:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    result = {
        "benchmark": "coupling static report (manage.py strangler_coupling)",
        "apps": len(report["apps"]), "models": sum(len(a["models"]) for a in report["apps"]), "files": files,
        "edges": len(report["edges"]), "edges_by_kind": kinds,
        "seconds_wall": round(wall, 2), "seconds_analysis": report["seconds"],
        "reference_seconds": round(reference, 2),
        "reference": "django.setup() of the same project + ast.parse of all its files, same run",
        "ratio_to_reference": round(wall / reference, 2),
        "target_seconds": TARGET_S, "within_target": wall < TARGET_S,
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['apps']} apps, {result['models']} models, {result['edges']} edges: report {wall:.2f} s "
          f"(analysis {report['seconds']} s), reference {reference:.2f} s, ratio {result['ratio_to_reference']}; "
          f"target < {TARGET_S:.0f} s: {'met' if result['within_target'] else 'MISSED'} -> {RESULTS}")


if __name__ == "__main__":
    main()
