"""``--html FILE``: one self-contained page (inline CSS and SVG, no script, no network): the app graph,
the partition's metrics, the candidates and the edges of each."""

from __future__ import annotations

import math
from collections import Counter
from html import escape

HARD = {"fk", "o2o", "m2m", "raw_sql", "transaction", "signal", "model_use", "import", "query"}
CSS = """body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2433}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}table{border-collapse:collapse}
td,th{padding:4px 10px;border-bottom:1px solid #e3e6ec;text-align:left;vertical-align:top}
th{background:#f4f6f9}code{font:12px ui-monospace,monospace}.k{font-weight:600}
.hard{color:#b42318}.soft{color:#475467}.ready{color:#067647;font-weight:600}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}pre{background:#f4f6f9;padding:10px;overflow:auto}
.metrics td{font-size:16px}.muted{color:#667085}"""


def _graph(report: dict, size: int = 560) -> str:
    apps = [a["label"] for a in report["apps"]]
    services = {a for g in report["partition"]["services"] for a in g}
    r = size / 2 - 90
    pos = {a: (size / 2 + r * math.cos(2 * math.pi * i / max(len(apps), 1) - math.pi / 2),
               size / 2 + r * math.sin(2 * math.pi * i / max(len(apps), 1) - math.pi / 2))
           for i, a in enumerate(apps)}
    pairs: Counter[tuple[str, str]] = Counter()
    hard: set[tuple[str, str]] = set()
    for e in report["edges"]:
        pairs[(e["source"], e["target"])] += e["count"]
        if e["kind"] in HARD:
            hard.add((e["source"], e["target"]))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'viewBox="0 0 {size} {size}" role="img" aria-label="app graph">',
             '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="11" markerHeight="11" '
             'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#667085"/></marker></defs>']
    for (s, t), n in sorted(pairs.items()):
        if s not in pos or t not in pos:
            continue
        (x1, y1), (x2, y2) = pos[s], pos[t]
        d = math.hypot(x2 - x1, y2 - y1) or 1
        x2, y2 = x2 - (x2 - x1) * 30 / d, y2 - (y2 - y1) * 30 / d
        x1, y1 = x1 + (x2 - x1) * 30 / d, y1 + (y2 - y1) * 30 / d
        color = "#d92d20" if (s, t) in hard else "#98a2b3"
        width = 1 + min(5, math.log2(n + 1))
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
                     f'stroke-width="{width:.1f}" marker-end="url(#a)"><title>{escape(s)} → {escape(t)}: '
                     f'{n} edges</title></line>')
    for a, (x, y) in pos.items():
        fill = "#d1fadf" if a in services else "#eaecf0"
        c = size / 2  # the label sits outside the ring, away from the edges
        lx, ly = c + (x - c) * (r + 44) / r, c + (y - c) * (r + 44) / r + 5
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="28" fill="{fill}" stroke="#344054"/>'
                     f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle" font-size="13" '
                     f'font-family="sans-serif">{escape(a)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(report: dict) -> str:
    part, m = report["partition"], report["partition"]["metrics"]
    services = " | ".join("+".join(g) for g in part["services"]) or "-"
    rows = "".join(
        f'<tr><td>{c["rank"]}</td><td class="k">{escape(c["app"])}</td><td>{c["cost"]}</td><td>{c["edges"]}</td>'
        f'<td class="{"ready" if c["ready"] else "hard"}">{"ready" if c["ready"] else "edges to cut"}</td>'
        f'<td>{escape(", ".join(f"{k} {v}" for k, v in sorted(c["kinds"].items())) or "-")}</td>'
        f'<td>{c["metrics"]["icp"]}</td></tr>' for c in report["candidates"])
    blocks = []
    for c in report["candidates"]:
        edges = [e for e in report["edges"] if c["app"] in (e["source"], e["target"])]
        edges.sort(key=lambda e: (-e["cost"], e["file"], e["line"]))
        items = "".join(
            f'<tr><td class="{"hard" if e["kind"] in HARD else "soft"} k">{e["kind"]}</td>'
            f'<td>{escape(e["source"])} → {escape(e["target"])}</td><td><code>{escape(e["file"])}:{e["line"]}'
            f'</code>{" ×" + str(e["count"]) if e["count"] > 1 else ""}</td><td>{escape(e["detail"])}</td>'
            f'<td>{escape(e["advice"])}</td></tr>' for e in edges[:500])
        more = f'<p class="muted">{len(edges) - 500} more in --json</p>' if len(edges) > 500 else ""
        blocks.append(f'<details{" open" if c["rank"] <= 2 else ""}><summary>{escape(c["app"])}: '
                      f'{len(edges)} edges, cost {c["cost"]}</summary><table><tr><th>kind</th><th>edge</th>'
                      f'<th>where</th><th>what</th><th>what to do</th></tr>{items}</table>{more}</details>')
    dyn = report["dynamic"]
    dyn_html = (f"<p>Run time: {dyn['requests']} requests, {dyn['cross_app_queries_per_request']} cross-app "
                f"queries per request (max {dyn['max_cross_app_queries_in_a_request']}); "
                f"{dyn['transactions_spanning_apps']} of {dyn['transactions']} transactions span apps.</p>"
                if dyn else "")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Coupling report</title><style>{CSS}</style></head><body>
<h1>Coupling report</h1>
<p class="muted">{len(report["apps"])} apps, {len(report["edges"])} cross-app edges, read in {report["seconds"]} s.
Red arrows: edges to cut; grey: through a published interface or into a shared kernel. Green apps: the partition's services.</p>
<h2>App graph</h2>{_graph(report)}
<h2>Partition ({"suggested" if part["suggested"] else "proposed"}): {escape(services)} | rest</h2>
<table class="metrics"><tr><th>ICP ({m["icp_basis"]})</th><th>SM</th><th>IFN</th><th>NED</th><th>edges to cut</th></tr>
<tr><td>{m["icp"]}</td><td>{m["sm"]}</td><td>{m["ifn"]}</td><td>{m["ned"]}</td><td>{part["edges_to_cut"]}</td></tr></table>
<p class="muted">ICP: share of calls between partitions (lower is better). SM: structural modularity
(higher is better). IFN: interface modules per partition (lower is better). NED: share of modules in partitions
of extreme size (lower is better). Mono2Micro, Kalia et al., ESEC/FSE 2021.</p>{dyn_html}
<h2>Candidates to extract next</h2>
<table><tr><th>#</th><th>app</th><th>cost</th><th>edges</th><th>state</th><th>kinds</th><th>ICP alone</th></tr>{rows}</table>
<h2>Edges per candidate</h2>{"".join(blocks)}
<h2>import-linter contracts</h2><pre>{escape(report["contracts"])}</pre>
</body></html>
"""
