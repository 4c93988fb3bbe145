"""Seed demo data through the contexts' interfaces: a demo user and products with stock.

Run with `python -m monolith.config.seed_demo`; rerunning changes nothing already there.
"""

from __future__ import annotations

import os

import django

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-pass-123"
PRODUCTS = [
    # sku, name, price in minor units, currency, stock
    ("MUG-001", "Strangler fig mug", 1500, "EUR", 100),
    ("TEE-002", "Bounded context t-shirt", 2500, "EUR", 50),
    ("BOOK-003", "Monolith to microservices (paperback)", 3999, "EUR", 20),
    ("STICK-004", "Outbox pattern sticker pack", 450, "EUR", 500),
]


def seed() -> None:
    from monolith.catalog import interface as catalog
    from monolith.kernel.money import Money
    from monolith.users import interface as users

    if users.user_get_by_email(email=DEMO_EMAIL) is None:
        users.user_register(email=DEMO_EMAIL, password=DEMO_PASSWORD, full_name="Demo Shopper")
        print(f"[seed] user {DEMO_EMAIL}")
    for sku, name, price, currency, stock in PRODUCTS:
        if catalog.product_get_by_sku(sku=sku) is not None:
            continue
        product = catalog.product_create(sku=sku, name=name, price=Money(price, currency))
        catalog.stock_set(product_id=product.id, on_hand=stock)
        print(f"[seed] product {sku} x{stock}")
    print("[seed] done")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.config.settings")
    django.setup()
    seed()
