"""Orders in the monolith that identifies shoppers while the payments *service* is verified: the
service asks that monolith whose order a public charge names (payments_service.orders), so the
provider state "a shopper has an order" must put the order there, under the id the pact names.

The verifier's own process is configured as the service, so the seed runs in a child process with
the monolith's environment: ``python -m contracts.providers.payments.monolith_orders ORDER_ID USER_ID``. It
writes the row as the monolith-side state does (states._shoppers_order), through orders' model.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

from contracts.providers.provider_states import OrderSeed

SEED_TIMEOUT = 60.0
TOTAL_MINOR, CURRENCY = 2500, "EUR"  # what the storefront pact charges for the order


def order_seeder(*, cwd: Path, env: dict[str, str]) -> OrderSeed:
    """A seed of (order id, owner) into the monolith whose process environment is ``env``."""

    def seed(order_id: uuid.UUID, user_id: uuid.UUID) -> None:
        result = subprocess.run([sys.executable, "-m", __name__, str(order_id), str(user_id)], cwd=cwd, env=env,
                                capture_output=True, text=True, timeout=SEED_TIMEOUT, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"seeding order {order_id} in the monolith failed:\n{result.stdout}{result.stderr}")

    return seed


def _main(order_id: str, user_id: str) -> None:
    import django

    django.setup()
    from monolith.orders.models import Order

    Order.objects.get_or_create(id=uuid.UUID(order_id), defaults={"user_id": uuid.UUID(user_id),
                                                                  "total_minor": TOTAL_MINOR, "currency": CURRENCY})


if __name__ == "__main__":
    _main(*sys.argv[1:3])
