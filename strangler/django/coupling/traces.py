"""OpenTelemetry spans as JSON (OTLP/JSON ``resourceSpans`` documents, or the console exporter's
span objects, one file or JSON lines) fed to the run-time analysis: each span with ``db.statement``
(or ``db.query.text``) is a query; its trace is the request, ``code.filepath`` on it or an ancestor
the caller, the root span's ``http.target``/``url.path`` the view that owns the request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .dynamic import Analysis
from .project import Project

STATEMENT = ("db.statement", "db.query.text")
PATHS = ("url.path", "http.target", "http.route")


def _value(v):
    if isinstance(v, dict):
        for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
            if key in v:
                return v[key]
    return v


def _attrs(raw) -> dict:
    if isinstance(raw, list):
        return {a["key"]: _value(a.get("value")) for a in raw if "key" in a}
    return dict(raw or {})


def _documents(text: str) -> Iterator[object]:
    text = text.strip()
    try:
        yield json.loads(text)
        return
    except json.JSONDecodeError:
        pass
    decoder, i = json.JSONDecoder(), 0
    while i < len(text):
        doc, i = decoder.raw_decode(text, i)
        yield doc
        while i < len(text) and text[i] in " \r\n\t,":
            i += 1


def spans(path: Path) -> Iterator[dict]:
    """Normalised spans: trace, id, parent, attributes."""
    stack = list(_documents(path.read_text()))
    while stack:
        doc = stack.pop()
        if isinstance(doc, list):
            stack += doc
        elif isinstance(doc, dict) and "resourceSpans" in doc:
            for rs in doc["resourceSpans"]:
                for ss in rs.get("scopeSpans", rs.get("instrumentationLibrarySpans", [])):
                    for s in ss.get("spans", []):
                        yield {"trace": s.get("traceId"), "id": s.get("spanId"),
                               "parent": s.get("parentSpanId") or None, "attrs": _attrs(s.get("attributes"))}
        elif isinstance(doc, dict) and ("context" in doc or "traceId" in doc):
            ctx = doc.get("context", {})
            yield {"trace": ctx.get("trace_id", doc.get("traceId")), "id": ctx.get("span_id", doc.get("spanId")),
                   "parent": doc.get("parent_id", doc.get("parentSpanId")) or None,
                   "attrs": _attrs(doc.get("attributes"))}


def analyse_traces(project: Project, path: Path) -> Analysis:
    all_spans = list(spans(path))
    by_id = {(s["trace"], s["id"]): s for s in all_spans}
    analysis = Analysis(project)
    for s in all_spans:
        sql = next((s["attrs"][k] for k in STATEMENT if k in s["attrs"]), None)
        if not sql:
            continue
        frames, root, cur = [], s, s
        while cur is not None:
            a = cur["attrs"]
            file = a.get("code.filepath") or a.get("code.file.path")
            if file:
                frames.append([file, int(a.get("code.lineno") or a.get("code.line.number") or 0)])
            root = cur
            cur = by_id.get((cur["trace"], cur["parent"])) if cur["parent"] else None
        request_path = next((root["attrs"][k] for k in PATHS if k in root["attrs"]), None)
        analysis.add(str(sql), frames, None, s["trace"], request_path)
    return analysis
