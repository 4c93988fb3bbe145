"""The migration dashboard end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright): log in, watch traffic, flip a route through the form, see the table, the history and
the proxy's behaviour change, and a contract-gated flip refused. Leaves a screenshot of the page in
bench/results/dashboard.png."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from strangler.control.verifications import Verification, verification_append
from strangler.tests.control_support import (
    PROVIDER_VERSION,
    TOKEN,
    Process,
    contracts_text,
    pact_write,
    start_proxy,
    start_upstream,
)

# db_independent: the proxy and its route store only; the PostgreSQL pass skips it.
pytestmark = [pytest.mark.db_independent, pytest.mark.integration]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "bench" / "results" / "dashboard.png"
AT_LEAST_60 = re.compile(r"^([6-9]\d|\d{3,})$")  # a few seconds of background traffic: the charts show it
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


def _route_table(tmp: Path, monolith: int, service: int, record: Path) -> str:
    return f"""
[proxy]
listen = "127.0.0.1:0"
access_log = false
[admin]
listen = "127.0.0.1:0"
token_env = "STRANGLER_ADMIN_TOKEN"
[store]
url = "sqlite:///{tmp}/routes.db"
{contracts_text(record, tmp / "pacts", {"payments": ["payments"], "ledger": ["ledger"]})}
[targets.monolith]
url = "http://127.0.0.1:{monolith}"
[targets.payments]
url = "http://127.0.0.1:{service}"
[targets.ledger]
url = "http://127.0.0.1:{service}"

[[routes]]
name = "payments"
prefix = "/api/v1/payments"
service = "payments"
mode = "monolith"
cohort = "header:x-user-id"
[routes.shadow]
noise_sample = 0.2

[[routes]]
name = "ledger"
prefix = "/api/v1/ledger"
service = "ledger"
mode = "monolith"
"""


class Traffic:
    """Clients of the proxy: a steady background trickle (so the charts have a story) and single calls."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sides: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def side(self, path: str, user: int = 1) -> str:
        """Which upstream answered (each names itself), or what went wrong."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"X-User-Id": str(user)})
            response = conn.getresponse()
            body = response.read()
            return json.loads(body)["side"] if response.status == 200 else f"HTTP {response.status}"
        except (OSError, ValueError, KeyError) as exc:
            return f"error {exc!r}"
        finally:
            conn.close()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.04):
            n += 1
            self.sides[self.side(f"/api/v1/payments/{n % 7}", n % 50)] += 1
            if n % 3 == 0:
                self.sides[self.side("/api/v1/ledger/balance", n % 50)] += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Process]:
    monolith = start_upstream("monolith", tmp_path / "monolith.log")
    service = start_upstream("service", tmp_path / "service.log")
    record = tmp_path / "contracts.jsonl"
    for service_name, result in (("payments", "passed"), ("ledger", "failed")):
        version = pact_write(tmp_path / "pacts", "storefront", service_name)
        for against in ("monolith", "service"):  # what the gate asks: both implementations, this pact
            verification_append(record, Verification("2026-01-01T00:00:00+00:00", service_name, "storefront",
                                                     version, service_name, PROVIDER_VERSION, against, result,
                                                     "3 pacts"))
    config = tmp_path / "routes.toml"
    config.write_text(_route_table(tmp_path, monolith.ports["port"], service.ports["port"], record))
    proc = start_proxy(config, tmp_path / "proxy.log")
    try:
        yield proc
    finally:
        assert proc.stop() == 0, proc.log_text()
        monolith.stop()
        service.stop()


def _flip(page: Page, route: str, mode: str, reason: str, weight: int | None = None) -> Locator:
    """Fill in and submit the route's form; returns the form's result line."""
    form = page.locator(f'form.flip[data-route="{route}"]')
    form.locator("select[name=mode]").select_option(mode)
    if weight is not None:
        form.locator("input[name=weight]").fill(str(weight))
    form.locator("input[name=reason]").fill(reason)
    form.locator("button[type=submit]").click()
    return form.locator("output")


def test_log_in_watch_and_flip_a_route(proxy: Process) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
                    "this test drives it with Playwright and never downloads a browser")
    admin = f"http://127.0.0.1:{proxy.ports['admin']}"
    with sync_playwright() as pw, Traffic(proxy.ports["proxy"]) as traffic:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            page = context.new_page()
            expect.set_options(timeout=15_000)

            page.goto(f"{admin}/dashboard")
            expect(page).to_have_url(f"{admin}/login")
            page.fill("input[name=token]", "not-the-token")
            with page.expect_response(f"{admin}/login") as login:
                page.click("button[type=submit]")
            assert login.value.status == 401
            expect(page.locator(".error")).to_have_text("Wrong token.")
            assert context.cookies() == []

            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{admin}/dashboard")
            (cookie,) = context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]

            payments = page.locator('tbody[data-route="payments"]')
            expect(payments.locator("td[data-mode]")).to_have_text("monolith")
            expect(page.locator('tr[data-route="ledger"] .contract-failed')).to_have_text("failed")
            monolith_requests = payments.locator('tr[data-target="monolith"] td[data-requests]')
            expect(monolith_requests).to_have_attribute("data-requests", AT_LEAST_60)  # the split has traffic

            result = _flip(page, "payments", "shadow", "shadow before the cut")
            expect(result).to_have_text(re.compile(r"^#\d+: monolith → shadow$"))
            expect(payments.locator("td[data-mode]")).to_have_text("shadow")
            expect(payments.locator("tr.samples summary")).to_contain_text("latest differing requests")
            payments.locator("tr.samples summary").click()

            result = _flip(page, "payments", "service", "cut over: shadow clean, contracts pass")
            expect(result).to_have_text(re.compile(r"^#\d+: shadow → service$"))
            expect(payments.locator("td[data-mode]")).to_have_text("service")
            newest = page.locator("#history-table tbody tr").first
            expect(newest).to_contain_text("cut over: shadow clean, contracts pass")
            expect(newest).to_contain_text("shadow → service")
            assert traffic.side("/api/v1/payments/after-the-flip") == "service"
            assert traffic.side("/api/v1/ledger/after-the-flip") == "monolith"
            service_requests = payments.locator('tr[data-target="payments"] td[data-requests]')
            expect(service_requests).to_have_attribute("data-requests", AT_LEAST_60)

            result = _flip(page, "ledger", "canary", "try the ledger on 10 %", weight=10)
            refusal = "route 'ledger' cannot go to canary: contract verification failing for service 'ledger'"
            expect(result).to_contain_text(refusal)
            expect(result).to_have_class("result error")
            expect(page.locator('tbody[data-route="ledger"] td[data-mode]')).to_have_text("monolith")
            assert traffic.side("/api/v1/ledger/still") == "monolith"
            expect(page.locator("#history-table tbody tr").first).to_contain_text("cut over")

            # A rollout started from the page: its card shows the step it is on; aborted from the page,
            # the route is back on the monolith.
            rollout = page.locator('form.rollout-form[data-route="payments"]')
            rollout.locator("input[name=steps]").fill("canary:50:1m,service")
            rollout.locator("input[name=reason]").fill("let the proxies drive payments")
            rollout.locator("button[data-verb=start]").click()
            expect(rollout.locator("output")).to_have_text(re.compile(r"^rollout #\d+: running at canary:50:60s$"))
            card = page.locator('.rollout[data-route="payments"]')
            expect(card).to_have_attribute("data-status", "running")
            expect(card.locator("li.step.current")).to_have_text("canary:50:60s")
            expect(payments.locator("td[data-mode]")).to_have_text("canary 50%")
            rollout.locator("input[name=reason]").fill("seen enough")
            rollout.locator("button[data-verb=abort]").click()
            expect(rollout.locator("output")).to_have_text(re.compile(r"^rollout #\d+: aborted at canary:50:60s$"))
            expect(card).to_have_attribute("data-status", "aborted")
            expect(payments.locator("td[data-mode]")).to_have_text("monolith")

            expect(payments.locator("details")).to_have_attribute("open", "")  # kept open across refreshes
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            page.click("header .logout button")
            expect(page).to_have_url(f"{admin}/login")
        finally:
            browser.close()
    assert set(traffic.sides) == {"monolith", "service"}, traffic.sides  # no failed request during the flips
