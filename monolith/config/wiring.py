"""Cross-context hooks the composition root plugs into settings (it may import any interface).

``order_owned`` is payments' PAYMENTS_ORDER_OWNED: payments imports no other context, so whether a
caller may charge an order is asked through this setting.
"""

from __future__ import annotations

import uuid

from monolith.orders import interface as orders


def order_owned(*, order_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether ``order_id`` exists and belongs to ``user_id``."""
    order = orders.order_get(order_id=order_id)
    return order is not None and order.user_id == user_id
