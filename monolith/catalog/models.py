"""Catalog owns products, their stock and the reservations orders hold against it."""

from django.db import models

from monolith.kernel.ids import new_id


class Product(models.Model):
    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    price_minor = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped on each write to the product: sync and backfill keep the copy with the higher revision.
    revision = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return self.sku


class StockLevel(models.Model):
    """``available = on_hand - reserved``; a commit takes units out of both."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True, related_name="stock")
    on_hand = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(reserved__lte=models.F("on_hand")),
                                   name="stock_reserved_within_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockReservation(models.Model):
    """One per order: the unique order_id is what makes reserve/release idempotent."""

    RESERVED = "reserved"
    RELEASED = "released"
    COMMITTED = "committed"
    STATES = [(RESERVED, "reserved"), (RELEASED, "released"), (COMMITTED, "committed")]

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    order_id = models.UUIDField(unique=True)
    lines = models.JSONField()  # [{"product_id": "<uuid>", "quantity": <int>}]
    state = models.CharField(max_length=16, choices=STATES, default=RESERVED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"reservation for {self.order_id} ({self.state})"


class StockCustody(models.Model):
    """Whether this database holds the catalog's stock: one row per database (README: "No
    oversell, ever"). Only an ``owner`` takes stock steps; ``fenced`` is an owner handing its stock
    over (it refuses, and is reopened only by an aborted handover); ``standby`` holds none.
    ``epoch`` numbers the handovers; ``imported_epoch`` is the last snapshot this side imported."""

    OWNER = "owner"
    FENCED = "fenced"
    STANDBY = "standby"
    STATES = [(OWNER, "owner"), (FENCED, "fenced"), (STANDBY, "standby")]
    SINGLETON = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON, editable=False)
    state = models.CharField(max_length=16, choices=STATES)
    epoch = models.PositiveIntegerField(default=0)
    imported_epoch = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="stock_custody_singleton")]

    def __str__(self) -> str:
        return f"stock custody: {self.state} at epoch {self.epoch}"
