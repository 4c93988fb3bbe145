"""Catalog cut acceptance on PostgreSQL and Redis: with payments already on its service, shoppers
compete through the proxy for products with little stock while the catalog route goes monolith ->
shadow -> canary 50% -> service -> monolith, the products are backfilled under the load, the stock
is handed to the service at the service step and back after it, and the catalog service is killed
for a few seconds while it holds the stock. No unit may be oversold on either side, every order
must end with its stock and its payment agreeing, and nothing but documented answers may fail."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.catalog_acceptance_support import CatalogShopper, verify_no_oversell, verify_orders
from tests.cutover_support import run_crowd, stack, start_stack, stop_stack

pytestmark = [pytest.mark.integration, pytest.mark.acceptance, pytest.mark.timeout(600)]

# Each phase has its own products, with little stock: the shoppers turn to them as the phase starts
# (before the handover for the service step, before the flip back for the last), so they compete for
# the last units in every phase however fast or slow the machine, and reservations are in flight at
# each handover. Two run out early; the third lasts most of the phase.
PHASES = ("monolith", "shadow", "canary-50", "service", "service-killed", "monolith-again")
STOCK = (4, 8, 40)
SHOPPERS = 8
PHASE_REQUESTS = 150  # each phase serves at least this many requests, however slow the machine


def _seed(st) -> dict[str, list[tuple[str, int]]]:
    """Per phase, its products and their stock (seeded on the monolith, which owns the stock)."""
    count = len(PHASES) * len(STOCK)
    code = ("import json; from monolith.catalog import interface as c; from monolith.kernel.money import Money; "
            f"made = [c.product_create(sku=f'SCARCE-{{n}}', name=f'Scarce {{n}}', price=Money(500 + n, 'EUR')) "
            f"for n in range({count})]; "
            f"[c.stock_set(product_id=p.id, on_hand=units) for p, units in zip(made, {list(STOCK) * len(PHASES)!r})]; "
            "print(json.dumps([str(p.id) for p in made]))")
    result = st.manage("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    import json

    ids = json.loads(result.stdout.strip().splitlines()[-1])
    per_phase = [list(zip(ids[i:i + len(STOCK)], STOCK, strict=True)) for i in range(0, count, len(STOCK))]
    return dict(zip(PHASES, per_phase, strict=True))


def _served(crowd) -> int:
    return sum(len(s.outcomes) for s in crowd)


def _dwell(crowd, seconds: float) -> None:
    start, started = _served(crowd), time.monotonic()
    time.sleep(seconds)
    while _served(crowd) - start < PHASE_REQUESTS and time.monotonic() - started < seconds * 4:
        time.sleep(0.2)


def test_catalog_moves_and_back_under_competing_checkouts_without_overselling(tmp_path_factory) -> None:
    catalog_services = [svc for svc in stack.SERVICES if svc.name in ("payments", "catalog")]
    st = start_stack(tmp_path_factory.mktemp("catalog-cut"), uuid.uuid4().hex[:8], services=catalog_services)
    try:
        _run_and_verify(st)
    finally:
        stop_stack(st, st.db_names)  # type: ignore[attr-defined]


def _run_and_verify(st) -> None:
    phases = _seed(st)
    initial = {product: units for products in phases.values() for product, units in products}
    phase_of = {product: phase for phase, products in phases.items() for product, _ in products}
    st.flip("service")  # payments is already on its service
    catalog_url = f"http://127.0.0.1:{st.ports.catalog}"
    stop = threading.Event()
    tag = uuid.uuid4().hex[:8]
    crowd = [CatalogShopper(st.ports.proxy, f"cat-{tag}-{i}@example.com", [p for p, _ in phases[PHASES[0]]], stop,
                            seed=i) for i in range(SHOPPERS)]
    steps: dict[str, object] = {}

    def turn_to(phase: str) -> None:
        for shopper in crowd:
            shopper.products = [p for p, _ in phases[phase]]

    def manage(name: str, *argv: str) -> None:
        result = st.manage(*argv)
        steps[name] = result.stdout[-600:]
        assert result.returncode == 0, f"{name}: {result.stdout[-2000:]}{result.stderr[-2000:]}"

    def outage() -> None:
        st.kill("catalog")
        time.sleep(4)
        st.restart("catalog")

    schedule = [
        lambda: _dwell(crowd, 4),
        lambda: manage("backfill", "strangler_backfill", "catalog", "--target", catalog_url, "--restart"),
        lambda: turn_to("shadow"), lambda: st.flip("shadow", route="catalog"), lambda: _dwell(crowd, 6),
        lambda: turn_to("canary-50"), lambda: st.flip("canary", 50, route="catalog"), lambda: _dwell(crowd, 8),
        lambda: turn_to("service"), lambda: time.sleep(0.5),
        lambda: manage("handover", "catalog_stock_handover", "--to", "service", "--target", catalog_url),
        lambda: st.flip("service", route="catalog"), lambda: _dwell(crowd, 5),
        lambda: turn_to("service-killed"), outage, lambda: _dwell(crowd, 6),
        lambda: turn_to("monolith-again"), lambda: time.sleep(0.5),
        lambda: st.flip("monolith", route="catalog"),
        lambda: manage("handback", "catalog_stock_handover", "--to", "monolith", "--target", catalog_url),
        lambda: _dwell(crowd, 5),
    ]
    seconds = run_crowd(crowd, stop, schedule, join_timeout=90)

    failures = [f for s in crowd for f in s.failures]
    assert not failures, f"{len(failures)} failed client requests, e.g. {failures[:5]}"
    st.drain()
    sold = verify_no_oversell({"monolith": st.mono_url, "catalog-service": st.cat_url}, initial)
    orders = verify_orders(owner_url=st.mono_url, payments_url=st.pay_url, crowd=crowd)
    assert orders["confirmed"] > 0 and orders["out_of_stock"] > 0, orders  # they really competed
    per_phase = _per_phase(crowd, phase_of)
    assert all(per_phase[phase]["confirmed"] > 0 for phase in PHASES), per_phase
    for context, target in (("catalog", catalog_url), ("payments", f"http://127.0.0.1:{st.ports.payments}")):
        result = st.manage("strangler_reconcile", context, "--target", target)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    requests = sum(len(s.outcomes) + sum(o.attempts - 1 for o in s.outcomes) for s in crowd)
    retried = sum(1 for s in crowd for o in s.outcomes if o.attempts > 1)
    print(f"\n[catalog-cut] requests={requests}, retried={retried}, seconds={seconds:.1f}, flips=4, "
          f"handovers=2, {', '.join(f'{k}={v}' for k, v in orders.items())}, "
          f"units_sold={sum(sold.values())} of {sum(initial.values())}")
    print("[catalog-cut] checkouts per phase (confirmed/out of stock/declined, units sold of stock): " + "; ".join(
        f"{phase} {f['confirmed']}/{f['out_of_stock']}/{f['declined']}, "
        f"{sum(sold[p] for p, _ in phases[phase])} of {sum(u for _, u in phases[phase])}" for phase, f in per_phase.items()))
    print(f"[catalog-cut] handover: {steps['handover'].strip().splitlines()[-1]}")
    print(f"[catalog-cut] handback: {steps['handback'].strip().splitlines()[-1]}")


def _per_phase(crowd, phase_of: dict[str, str]) -> dict[str, dict[str, int]]:
    """Checkout answers by the phase whose products they were for."""
    counts = {phase: {"confirmed": 0, "out_of_stock": 0, "declined": 0} for phase in PHASES}
    names = {200: "confirmed", 409: "out_of_stock", 402: "declined"}
    for o in (o for s in crowd for o in s.outcomes if o.kind == "checkout"):
        counts[phase_of[o.key]][names[o.status]] += 1
    return counts
