"""The terminal report: candidates ranked, the partition's metrics, every edge to cut, the contracts."""

from __future__ import annotations


def _table(rows: list[list[str]], head: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("{:<" + str(w) + "}" for w in widths)
    return [line.format(*head), line.format(*["-" * w for w in widths]),
            *[line.format(*map(str, r)) for r in rows]]


def render(report: dict, edges_per_candidate: int = 1000) -> str:
    out = [f"Coupling report: {len(report['apps'])} apps, {len(report['edges'])} cross-app edges "
           f"({report['seconds']} s)", ""]
    out.append("Candidates to extract next (cheapest first; cost = Σ edges × cost of their kind)")
    rows = [[c["rank"], c["app"], c["cost"], c["edges"], "yes" if c["ready"] else "no",
             ", ".join(f"{k} {v}" for k, v in sorted(c["kinds"].items())) or "-",
             c["metrics"]["icp"]] for c in report["candidates"]]
    out += _table(rows, ["#", "app", "cost", "edges", "ready", "kinds", "ICP alone"]) + [""]
    part = report["partition"]
    m = part["metrics"]
    label = "suggested" if part["suggested"] else "proposed"
    services = " | ".join("+".join(g) for g in part["services"]) or "-"
    out += [f"Partition ({label}): {services} | rest of the monolith",
            f"  ICP {m['icp']} ({m['icp_basis']})   SM {m['sm']}   IFN {m['ifn']}   NED {m['ned']}   "
            f"({m['partitions']} partitions, {m['units']} modules; {part['edges_to_cut']} edges to cut)", ""]
    by_app = {c["app"]: [] for c in report["candidates"]}
    for e in report["edges"]:
        for app in {e["source"], e["target"]} & set(by_app):
            by_app[app].append(e)
    for c in report["candidates"]:
        edges = sorted(by_app[c["app"]], key=lambda e: (-e["cost"], e["file"], e["line"]))
        out.append(f"{c['app']}: {len(edges)} edges, cost {c['cost']}")
        for e in edges[:edges_per_candidate]:
            count = f" ×{e['count']}" if e["count"] > 1 else ""
            out.append(f"  {e['kind']:<16} {e['source']} -> {e['target']}  {e['file']}:{e['line']}{count}")
            out.append(f"  {'':<16} {e['detail']}")
            out.append(f"  {'':<16} => {e['advice']}")
        if len(edges) > edges_per_candidate:
            out.append(f"  ... {len(edges) - edges_per_candidate} more (see --json)")
        out.append("")
    if report["dynamic"]:
        d = report["dynamic"]
        out += [f"Run time: {d['requests']} requests, {d['cross_app_queries_per_request']} cross-app queries "
                f"per request (max {d['max_cross_app_queries_in_a_request']}), "
                f"{d['transactions_spanning_apps']} of {d['transactions']} transactions span apps", ""]
    out += ["import-linter contracts for this boundary (paste into pyproject.toml or .importlinter):", "",
            report["contracts"]]
    return "\n".join(out)
