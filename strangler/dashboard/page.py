"""The dashboard's HTML: the page, its refreshable fragments, the flip forms and the login page.

Server-rendered and complete on the first byte (no waiting for a fetch); the page's script then
swaps in fresh fragments of the same renderer every few seconds, so there is one renderer and
one place that escapes. Styles and script are files served by the admin port itself: the machine
running a cutover may be offline, and the Content-Security-Policy allows nothing else.
"""

from __future__ import annotations

import time
from typing import Any

from strangler.dashboard.rollouts import rollout_forms, rollouts_view
from strangler.dashboard.table import esc, routes_table
from strangler.proxy.types import Mode

STATIC = "/dashboard/static"
REFRESH_SECONDS = 3


def page(data: dict[str, Any], csrf: str) -> str:
    body = f"""
<header class=top>
  <h1>Strangler <span>migration dashboard</span></h1>
  <div class=status><span id=updated>updated {_clock(data["generated_at"])}</span>
    <span>store version <b id=store-version>{esc(data["store_version"])}</b></span></div>
  <label class=operator>Operator
    <input id=operator maxlength=60 placeholder="your name" autocomplete=off></label>
  <form method=post action=/logout class=logout><input type=hidden name=csrf value="{esc(csrf)}">
    <button type=submit>Log out</button></form>
</header>
<main>
  <section><h2>Routes</h2><p class=hint>Requests, 5xx and latency over the last minute on this replica;
    charts over the last five minutes (dots give each target's colour; dashed red: 5xx/s). Refreshes every
    {REFRESH_SECONDS} s.</p>
    <div id=routes-body>{routes_table(data)}</div></section>
  <section><h2>Change a route</h2><p class=hint>Every change needs a reason; it goes into the audit history.
    Canary and service are refused while the service's contracts do not pass, unless forced.</p>
    <div id=change-body>{change_forms(data)}</div></section>
  <section><h2>Rollouts</h2><p class=hint>Driven by the proxies themselves: each step is watched, judged on
    what every replica saw, and advanced, held or rolled back to the monolith; every decision is kept with its
    figures.</p>
    <div id=rollouts-body>{rollouts_view(data)}</div>
    <div id=rollout-forms>{rollout_forms(data)}</div></section>
  <section><h2>Needs a person</h2><p class=hint>Each service's sync conflicts (per context), dead letters
    and events not yet published, polled from its kit status every few seconds.</p>
    <div id=backends-body>{backends_table(data)}</div></section>
  <section><h2>History</h2><div id=history-body>{history_table(data)}</div></section>
</main>"""
    return _document("Strangler · migration dashboard", body, csrf=csrf, script=True)


def fragments(data: dict[str, Any]) -> dict[str, str]:
    """The parts the page's script replaces on each refresh; the forms are never replaced, so nothing
    typed into them is lost."""
    return {"routes": routes_table(data), "history": history_table(data), "backends": backends_table(data),
            "rollouts": rollouts_view(data)}


def change_forms(data: dict[str, Any]) -> str:
    rows = []
    for route in data["routes"]:
        if not route["service"]:
            continue  # the DEFAULT route: always the monolith
        name = esc(route["name"])
        options = "".join(f'<option value="{m.value}"{" selected" if m.value == route["mode"] else ""}>'
                          f"{m.value}</option>" for m in Mode)
        rows.append(f"""
<form class=flip data-route="{name}" autocomplete=off>
  <span class=name>{name}</span>
  <label>Mode <select name=mode>{options}</select></label>
  <label>Weight <input name=weight type=number min=0 max=100 step=1 value="{esc(route["weight"])}"></label>
  <label class=reason>Reason
    <input name=reason required maxlength=500 placeholder="why, e.g. shadow clean for 1 h"></label>
  <label class=force><input name=force type=checkbox> force past contract check</label>
  <button type=submit>Apply</button>
  <output class=result aria-live=polite></output>
</form>""")
    return "".join(rows)


def backends_table(data: dict[str, Any]) -> str:
    rows = []
    for name, status in sorted(data.get("backends", {}).items()):
        if not status["ok"]:
            rows.append(f'<tr data-target="{esc(name)}"><td>{esc(name)}</td>'
                        f'<td colspan=3 class=attention>no status: {esc(status["error"])}</td></tr>')
            continue
        conflicts = status.get("conflicts") or {}
        total = sum(n for n in conflicts.values() if isinstance(n, int))
        detail = ", ".join(f"{esc(c)} {esc(n)}" for c, n in sorted(conflicts.items()))
        cells = [(total, f"{total}" + (f" <small>({detail})</small>" if detail else "")),
                 (status.get("dead_letters", 0), esc(status.get("dead_letters", "–"))),
                 (0, esc(status.get("outbox_pending", "–")))]
        tds = "".join(f'<td class="num{" attention" if count else ""}">{html}</td>' for count, html in cells)
        stale = [f"{esc(route)} for {esc(h['stale_seconds'])} s" for route, h in
                 sorted((status.get("route_followers") or {}).items()) if h.get("stale_seconds") is not None]
        note = f'<br><small class=attention>route store unreadable: {", ".join(stale)}</small>' if stale else ""
        rows.append(f'<tr data-target="{esc(name)}"><td>{esc(name)}{note}</td>{tds}</tr>')
    if not rows:
        rows.append("<tr><td colspan=4 class=muted>not polled: set [admin] status_credential in the route table"
                    "</td></tr>")
    head = "<thead><tr><th>Service</th><th>Conflicts</th><th>Dead letters</th><th>Unpublished</th></tr></thead>"
    return f'<table class=backends id=backends-table>{head}<tbody>{"".join(rows)}</tbody></table>'


def history_table(data: dict[str, Any]) -> str:
    rows = []
    for entry in data["history"]:
        before = _state(entry["from_mode"], entry["from_weight"]) if entry["from_mode"] else "–"
        after = _state(entry["to_mode"], entry["to_weight"])
        undo = f' <small>undoes #{esc(entry["undoes"])}</small>' if entry.get("undoes") else ""
        forced = " class=forced" if entry.get("forced") else ""
        rows.append(f'<tr{forced} data-id="{esc(entry["id"])}"><td class=num>#{esc(entry["id"])}</td>'
                    f'<td>{_clock(entry["at"], date=True)}</td><td>{esc(entry["actor"])}</td>'
                    f'<td>{esc(entry["route"])}</td><td>{esc(before)} → <b>{esc(after)}</b>{undo}</td>'
                    f'<td class=reason>{esc(entry["reason"])}</td></tr>')
    if not rows:
        rows.append("<tr><td colspan=6 class=muted>no changes yet</td></tr>")
    head = ("<thead><tr><th>#</th><th>When (UTC)</th><th>Actor</th><th>Route</th><th>Change</th>"
            "<th>Reason</th></tr></thead>")
    return f'<table class=history id=history-table>{head}<tbody>{"".join(rows)}</tbody></table>'


def login_page(error: str | None = None) -> str:
    message = f'<p class=error role=alert>{esc(error)}</p>' if error else ""
    body = f"""
<main class=login>
  <form method=post action=/login>
    <h1>Strangler admin</h1>
    <p class=hint>Log in with the admin token (<code>$STRANGLER_ADMIN_TOKEN</code>; <code>make run</code>
      prints it).</p>
    {message}
    <label>Admin token
      <input name=token type=password required autofocus autocomplete=current-password></label>
    <button type=submit>Log in</button>
  </form>
</main>"""
    return _document("Strangler admin · log in", body)


def _document(title: str, body: str, *, csrf: str | None = None, script: bool = False) -> str:
    meta = f'<meta name=csrf-token content="{esc(csrf)}">' if csrf else ""
    js = f'<script src="{STATIC}/app.js" defer></script>' if script else ""
    return (f'<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>'
            f'<meta name=viewport content="width=device-width, initial-scale=1">{meta}'
            f'<meta name=refresh-seconds content="{REFRESH_SECONDS}">'
            f'<link rel=icon href="{STATIC}/icon.svg"><link rel=stylesheet href="{STATIC}/app.css">'
            f"{js}</head><body>{body}</body></html>")


def _state(mode: str, weight: int | None) -> str:
    return f"{mode} {weight}%" if mode == "canary" else mode


def _clock(at: float, date: bool = False) -> str:
    fmt = "%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S UTC"
    return time.strftime(fmt, time.gmtime(at))
