"""Provider states of payments, in the consumers' words, seeded through payments' own services
(imported once Django is configured: contracts/providers/provider_states.py).

Request paths carry ids, so a state that says "a payment exists" must create it under exactly the
id the pact names. Payments mint ids from idempotency keys, so the one service that takes a given
id is the sync merge (the kit's ``sync_snapshot_apply`` on payments' spec): such a payment is
seeded as the snapshot the other store would have sent of it. Events are produced by the real writes (``payment_charge``,
``payment_refund``), which put them in the outbox, where messages.py reads them.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import apps
from django.utils import timezone

from contracts.providers.payments.monolith_orders import CURRENCY, TOTAL_MINOR
from contracts.providers.provider_states import Handler, OrderSeed, StateError, StateRun, closing
from contracts.providers.provider_states import uuid_param as _uuid
from monolith.kernel.ids import REFUND_ID_NAMESPACE, id_from_key
from monolith.kernel.money import Money
from monolith.payments.extraction import SPEC
from monolith.payments.models import Payment
from monolith.payments.selectors import payment_get
from monolith.payments.services import payment_charge, payment_refund
from strangler.django.errors import NotFound
from strangler.django.extraction.importing import sync_snapshot_apply

ACCEPTED_CARD = "tok_visa"  # the fake processor's test cards (monolith/payments/processors.py)
DECLINED_CARD = "tok_chargeDeclined"


def _amount(parameters: dict[str, Any], name: str = "amount_minor") -> Money:
    return Money(int(parameters[name]), str(parameters.get("currency", "EUR")))


def payment_seed(*, payment_id: uuid.UUID, order_id: uuid.UUID, user_id: uuid.UUID, amount: Money,
                 refunded_minor: int = 0) -> None:
    """A captured payment under ``payment_id`` (with one refund of ``refunded_minor`` if not 0)."""
    now = timezone.now().isoformat()
    refunds = []
    if refunded_minor:
        key = f"contract-state-refund:{payment_id}"
        refunds.append({"id": str(id_from_key(REFUND_ID_NAMESPACE, key)), "payment_id": str(payment_id),
                        "amount_minor": refunded_minor, "currency": amount.currency,
                        "processor_ref": f"fake_re_{payment_id.hex[:24]}", "idempotency_key": key,
                        "created_at": now})
    payment = {
        "id": str(payment_id), "order_id": str(order_id), "user_id": str(user_id),
        "amount_minor": amount.amount_minor, "currency": amount.currency, "status": Payment.CAPTURED,
        "failure_reason": "", "processor_ref": f"fake_ch_{payment_id.hex[:24]}", "captured_minor": amount.amount_minor,
        "refunded_minor": refunded_minor, "idempotency_key": f"contract-state:{payment_id}",
        "revision": 2 + len(refunds), "created_at": now, "updated_at": now,
    }
    if not sync_snapshot_apply(spec=SPEC, snapshot={"payment": payment, "refunds": refunds}):
        raise StateError(f"payment {payment_id} already exists; interactions must not share payment ids")


def _captured_for_order(parameters: dict[str, Any]) -> None:
    payment_seed(payment_id=_uuid(parameters, "payment_id"), order_id=_uuid(parameters, "order_id"),
                 user_id=_uuid(parameters, "user_id"), amount=_amount(parameters))


def _no_payment(parameters: dict[str, Any]) -> None:
    payment_id = _uuid(parameters, "payment_id")
    try:
        payment_get(payment_id=payment_id)
    except NotFound:
        return
    raise StateError(f"payment {payment_id} exists, but the state says it does not")


def _shoppers_payment(shopper_id: uuid.UUID | None, *, refunded: bool = False) -> Handler:
    def seed(parameters: dict[str, Any]) -> None:
        if shopper_id is None:
            raise StateError("no shopper is signed in for this verification")
        payment_seed(payment_id=_uuid(parameters, "payment_id"), order_id=_uuid(parameters, "order_id"),
                     user_id=shopper_id, amount=_amount(parameters),
                     refunded_minor=int(parameters["refunded_minor"]) if refunded else 0)
    return seed


def _shoppers_order(shopper_id: uuid.UUID | None, monolith_order_seed: OrderSeed | None) -> Handler:
    """The shopper owns the order a charge names. Orders live in the monolith: a provider without
    the orders app (the payments service) asks the monolith it identifies shoppers at, so the order
    is seeded there (``monolith_order_seed``)."""

    def seed(parameters: dict[str, Any]) -> None:
        if shopper_id is None:
            raise StateError("no shopper is signed in for this verification")
        order_id = _uuid(parameters, "order_id")
        if not apps.is_installed("monolith.orders"):
            if monolith_order_seed is None:
                raise StateError("the service asks a monolith whose order it is; none is running")
            monolith_order_seed(order_id, shopper_id)
            return
        order_model = apps.get_model("orders", "Order")
        order_model.objects.get_or_create(id=order_id, defaults={"user_id": shopper_id, "total_minor": TOTAL_MINOR,
                                                                 "currency": CURRENCY})
    return seed


def _others_payment(parameters: dict[str, Any]) -> None:
    payment_seed(payment_id=_uuid(parameters, "payment_id"), order_id=uuid.uuid4(), user_id=uuid.uuid4(),
                 amount=Money(2500, "EUR"))


def _charged(card_token: str) -> Handler:
    """The order's checkout charge, as orders makes it (same domain key), with this card."""

    def charge(parameters: dict[str, Any]) -> None:
        order_id = _uuid(parameters, "order_id")
        payment_charge(order_id=order_id, user_id=_uuid(parameters, "user_id"), amount=_amount(parameters),
                       card_token=card_token, idempotency_key=f"orders.checkout:{order_id}")
    return charge


def _partly_refunded(parameters: dict[str, Any]) -> None:
    order_id = _uuid(parameters, "order_id")
    payment = payment_charge(order_id=order_id, user_id=_uuid(parameters, "user_id"),
                             amount=_amount(parameters), card_token=ACCEPTED_CARD,
                             idempotency_key=f"orders.checkout:{order_id}")
    if payment.status != Payment.CAPTURED:
        raise StateError(f"the charge for order {order_id} was not captured: {payment.status}")
    payment_refund(payment_id=payment.id, amount=_amount(parameters, "refund_minor"),
                   idempotency_key=f"orders.refund:{payment.id}")


def state_handlers(run: StateRun) -> dict[str, Handler]:
    """Every provider state payments knows, for both providers (HTTP and events). ``run.shopper_id``
    is the shopper the verifier signs storefront requests as; ``run.monolith_order_seed`` puts an
    order in the monolith the service asks about owners (verifying the service)."""
    shopper_id = run.shopper_id
    return closing({
        # orders' remote client (internal API)
        "a captured payment of 25.00 EUR exists for an order": _captured_for_order,
        "no payment exists with this id": _no_payment,
        # the storefront (public API, as the signed-in shopper)
        "a shopper has a captured payment of 25.00 EUR for an order": _shoppers_payment(shopper_id),
        "a shopper has a payment of 25.00 EUR of which 5.00 EUR was refunded":
            _shoppers_payment(shopper_id, refunded=True),
        "another shopper has a captured payment": _others_payment,
        "a shopper has an order": _shoppers_order(shopper_id, run.monolith_order_seed),
        # events
        "a shopper's card payment for an order is captured": _charged(ACCEPTED_CARD),
        "a shopper's card payment for an order is declined": _charged(DECLINED_CARD),
        "a captured payment of 25.00 EUR was partly refunded": _partly_refunded,
    })
