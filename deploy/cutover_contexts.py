"""What `deploy/cutover.py --context NAME` needs to know of each context it can walk, described once:
the route it moves, the service it moves it to, the extraction context it backfills and reconciles,
and the context's own steps around the service step.

The contract providers are not repeated here: the cutover asks can-i-deploy about `service`, and the
providers it must honour are the route table's `[contracts.providers]` entry for that service (the
same entry the proxies' flip gate reads), which the cutover prints and requires.

Hooks. A context may need steps of its own that no route flip does, e.g. catalog's stock handover
(one owner of each product's stock at a time). Each hook is a monolith management command (the
arguments after `manage.py`; `{service}` is replaced by the service's URL), run with the stack's
internal secret from the repository root; a hook that exits non-zero stops the cutover:

- `before_service`: run once the route has passed every step before `service` and before the route
  goes there. With hooks, the rollout is split in two: the steps before `service`, then the hooks,
  then a second rollout from `service` on (reconciled at its first step, as every step is). From
  then on, a check that stops the cutover (a hook, the flip gate, reconcile) sends the route back
  to the monolith.
- `after_monolith`: run once the route is back on the monolith (a planned `--rollback`, a rollout
  that rolled back or was aborted, a check that stopped the cutover), but only when
  `before_service` was started: they undo what it did, never anything else. A cutover stopped by
  Ctrl-C leaves the rollout to the proxies and says to run them by hand.

Both are empty for payments (its cut needs only the route and the sync).
"""

from __future__ import annotations

from dataclasses import dataclass

Hook = tuple[str, ...]  # a manage.py command line of the monolith, e.g. ("catalog_stock_handover", "--to", "service")


@dataclass(frozen=True)
class CutoverContext:
    name: str  # the extraction context: strangler_backfill / strangler_reconcile <name>
    route: str  # the route the rollout moves (strangler rollout start <route>)
    service: str  # the route's target, and the service can-i-deploy is asked about
    service_url: str  # where `make run` serves it: the default --service of backfill and reconcile
    before_service: tuple[Hook, ...] = ()
    after_monolith: tuple[Hook, ...] = ()

    def hook_argv(self, hook: Hook, *, service_url: str) -> list[str]:
        return [arg.replace("{service}", service_url) for arg in hook]


CONTEXTS: dict[str, CutoverContext] = {
    "payments": CutoverContext(name="payments", route="payments", service="payments",
                               service_url="http://127.0.0.1:8002"),
    # The stock moves with the route's service step, by the fenced handover (one owner at a time;
    # README "No oversell, ever"), and comes back when the route does. The monolith runs with
    # CATALOG_IMPL=owner (deploy/local/stack.py, compose, k8s), so its saga follows the stock.
    "catalog": CutoverContext(name="catalog", route="catalog", service="catalog",
                              service_url="http://127.0.0.1:8003",
                              before_service=(("catalog_stock_handover", "--to", "service", "--target", "{service}"),),
                              after_monolith=(("catalog_stock_handover", "--to", "monolith", "--target", "{service}"),)),
}
