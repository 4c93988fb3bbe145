"""Continuous sync of products through the real broker path, both ways: a product created or changed
in the monolith reaches the catalog service (the monolith's relay routes catalog.ProductSynced to the
service's queue, as CATALOG_SYNC_QUEUES says, and the service's own worker merges it), and one created
or changed on the service reaches the monolith (the service's relay, the monolith's worker). Each
side's outbox holds only its own writes: an applied snapshot never echoes. Real processes on Redis,
the service on PostgreSQL (fails without either)."""

from __future__ import annotations

import secrets
import uuid

import psycopg
import pytest

from tests.catalog_support import live

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

PRODUCT = ("import json; from monolith.catalog.models import Product; "
           "p = Product.objects.filter(pk={id!r}).first(); "
           "print(json.dumps(p and [p.name, p.price_minor, p.active, p.revision]))")
CREATE = ("import json; from monolith.catalog import services as s; from monolith.kernel.money import Money; "
          "p = s.product_create(sku={sku!r}, name='Mug', price=Money(1250, 'EUR')); print(json.dumps(str(p.id)))")
UPDATE = ("import json, uuid; from monolith.catalog import services as s; from monolith.kernel.money import Money; "
          "p = s.product_update(product_id=uuid.UUID({id!r}), name={name!r}, price=Money(1490, 'EUR')); "
          "print(json.dumps(p.revision))")
OUTBOX = ("import json; from strangler.django.outbox.models import OutboxMessage; "
          "print(json.dumps(sorted([m.envelope['payload']['product']['id'], m.envelope['payload']['origin']] "
          "for m in OutboxMessage.objects.filter(event_type='catalog.ProductSynced'))))")


def _on_service(service: live.Server, product_id: str) -> list | None:
    with psycopg.connect(service.env["DATABASE_URL"], autocommit=True) as conn:
        row = conn.execute("select name, price_minor, active, revision from catalog_product where id = %s",
                           (product_id,)).fetchone()
    return None if row is None else list(row)


def test_product_writes_on_either_side_reach_the_other_through_relays_broker_and_workers(stack, tmp_path):
    queue = f"catalog-{secrets.token_hex(4)}"
    stack.env["CATALOG_SYNC_QUEUES"] = queue  # the monolith's product snapshots go to the service's queue
    stack.manage("migrate", "--noinput")
    (tmp_path / "catalog").mkdir()
    with (live.service_running(tmp_path / "catalog", broker_url=stack.env["CELERY_BROKER_URL"],
                               CELERY_QUEUE=queue) as service,
          live.worker_running(service)):
        stack.start_worker()

        # Monolith -> service: created, then changed.
        in_monolith = str(stack.python(CREATE.format(sku=f"mono-{uuid.uuid4().hex[:8]}")))
        stack.manage("relay_outbox")
        live.eventually(lambda: _on_service(service, in_monolith), lambda row: row == ["Mug", 1250, True, 1],
                        what="the monolith's new product on the service")
        assert stack.python(UPDATE.format(id=in_monolith, name="Mug, changed in the monolith")) == 2
        stack.manage("relay_outbox")
        live.eventually(lambda: _on_service(service, in_monolith),
                        lambda row: row == ["Mug, changed in the monolith", 1490, True, 2],
                        what="the monolith's change on the service")

        # Service -> monolith: created, then changed.
        on_service = str(service.python(CREATE.format(sku=f"svc-{uuid.uuid4().hex[:8]}")))
        live.manage(service.env, "relay_outbox")
        live.eventually(lambda: stack.python(PRODUCT.format(id=on_service)), lambda row: row == ["Mug", 1250, True, 1],
                        what="the service's new product in the monolith")
        assert service.python(UPDATE.format(id=on_service, name="Mug, changed on the service")) == 2
        live.manage(service.env, "relay_outbox")
        live.eventually(lambda: stack.python(PRODUCT.format(id=on_service)),
                        lambda row: row == ["Mug, changed on the service", 1490, True, 2],
                        what="the service's change in the monolith")

        # Each outbox holds only its own side's snapshots (applying publishes nothing back).
        assert stack.python(OUTBOX) == [[in_monolith, "monolith"]] * 2
        assert service.python(OUTBOX) == [[on_service, "catalog-service"]] * 2
        assert "Traceback" not in stack.log_text(), stack.log_text()
