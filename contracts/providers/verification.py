"""One pact file verified against one live provider with pact-python's Verifier, and its outcome
in a form the record and a reader can use."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pact import Verifier

from contracts.pactfiles import PactFile

HOST = "127.0.0.1"  # the Verifier's host must equal the host of every transport URL
REQUEST_TIMEOUT_MS = 15_000
_ACCESS_LOG = re.compile(r"^127\.0\.0\.1 - - \[")  # pact-python's state/message servers, one line a call
MISMATCH_CHARS, MISMATCHES_KEPT = 160, 3
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass(frozen=True, slots=True)
class Publish:
    """Publishing results to a Pact Broker (PACT_BROKER_* in the environment): the pacts then come
    from the broker, since results can only be published against pacts fetched from it."""

    provider_version: str
    branch: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    passed: bool
    summary: str  # one line for the record: what was verified, or which interactions failed
    output: str  # the verifier's report, without colours


def _guarded(name: str, handler: Callable[..., None], errors: list[str]) -> Callable[..., None]:
    """``handler``, answering success even when it raises: the Rust verifier retries a failed
    provider state with backoff for about two minutes, so one broken state would stall the run.
    The error is kept and fails the pact instead (``_run``)."""

    @functools.wraps(handler)  # pact-python passes arguments by the handler's parameter names
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            handler(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported as the pact's failure
            errors.append(f"provider state {name!r} failed: {type(exc).__name__}: {exc}"[:MISMATCH_CHARS * 2])

    return guarded


def _verifier(pact: PactFile, states: Mapping[str, Callable[..., None]], publish: Publish | None,
              errors: list[str]) -> Verifier:
    verifier = Verifier(pact.provider, host=HOST).set_coloured_output(enabled=False)
    verifier.set_request_timeout(REQUEST_TIMEOUT_MS)
    if states:
        verifier.state_handler({name: _guarded(name, fn, errors) for name, fn in states.items()}, teardown=False)
    if publish is None:
        verifier.add_source(pact.path)
    else:
        verifier.broker_source().filter_consumers(pact.consumer)
        verifier.set_publish_options(version=publish.provider_version, branch=publish.branch)
    return verifier


def verify_http(pact: PactFile, *, url: str, headers: Mapping[str, str],
                states: Mapping[str, Callable[..., None]], publish: Publish | None = None) -> Outcome:
    """Replay the pact's requests at ``url`` with ``headers`` added to each (credentials minted for
    this run replace the pact's example values)."""
    errors: list[str] = []
    verifier = _verifier(pact, states, publish, errors).add_transport(url=url).add_custom_headers(dict(headers))
    return _run(verifier, pact, errors)


def verify_messages(pact: PactFile, *, producers: Mapping[str, Callable[..., Any]],
                    states: Mapping[str, Callable[..., None]], publish: Publish | None = None) -> Outcome:
    errors: list[str] = []
    verifier = _verifier(pact, states, publish, errors).message_handler(dict(producers))
    return _run(verifier, pact, errors)


def _failure(result: dict[str, Any]) -> str:
    """``description [path: mismatch; ...]``: what the record keeps of one failed interaction."""
    mismatch = result.get("mismatch") or {}
    found = [f"{m.get('path') or m.get('type', '')}: {m.get('mismatch', '')}"[:MISMATCH_CHARS]
             for m in mismatch.get("mismatches") or [] if isinstance(m, dict)]
    if not found and mismatch.get("message"):
        found = [str(mismatch["message"])[:MISMATCH_CHARS]]
    detail = f" [{'; '.join(found[:MISMATCHES_KEPT])}]" if found else ""
    return f"{result.get('description')}{detail}"


@contextlib.contextmanager
def _captured() -> Iterator[list[str]]:
    """Everything written to fds 1 and 2 meanwhile (the Rust verifier prints its report itself,
    handlers' tracebacks go to stderr), so a run prints one line per pact and the details only
    when they matter."""
    lines: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            text = _ANSI.sub("", sink.read().decode(errors="replace"))
            lines.extend(line for line in text.splitlines() if not _ACCESS_LOG.match(line))


def _run(verifier: Verifier, pact: PactFile, state_errors: list[str]) -> Outcome:
    error = ""
    with _captured() as printed:
        try:
            verifier.verify()
        except RuntimeError as exc:  # the FFI's way of saying "verification failed"
            error = str(exc)
    output = "\n".join(printed).strip() or verifier.output(strip_ansi=True)
    try:
        results: dict[str, Any] = verifier.results
    except (ValueError, TypeError):
        results = {}
    failing = sorted(_failure(r) for r in results.get("interactionResults") or [] if r.get("result") != "OK")
    passed = not error and results.get("result") is True and not failing and not state_errors
    count = len(results.get("interactionResults") or []) or len(pact.descriptions)
    if passed:
        summary = f"{count} interactions verified"
    elif state_errors:
        summary = "; ".join(dict.fromkeys(state_errors))
    elif failing:
        summary = f"{len(failing)} of {count} interactions failed: " + "; ".join(failing)
    else:
        summary = f"verification did not complete: {error or 'no result'}"
    return Outcome(passed=passed, summary=summary, output=output)
