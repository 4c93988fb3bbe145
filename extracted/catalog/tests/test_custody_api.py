"""The stock handover's steps as the service serves them (/internal/v1/catalog/custody/): only the
coordinator's credential, bad input refused with 400 and nothing written, an owner's stock never
overwritten, and a fenced service refusing the saga's steps with 503 and Retry-After."""

from __future__ import annotations

import uuid

from monolith.catalog.models import StockCustody, StockLevel

CUSTODY = "/internal/v1/catalog/custody/"


def test_only_the_coordinator_may_call_the_custody_steps(internal, settings, products) -> None:
    settings.CATALOG_CUSTODY_CALLERS = ["handover-runner"]
    refused = internal("post", f"{CUSTODY}fence/", {"epoch": 1})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    settings.CATALOG_CUSTODY_CALLERS = ["monolith"]
    for bad in ({"epoch": "1"}, {"epoch": 0}, {}, {"epoch": True}):
        answer = internal("post", f"{CUSTODY}fence/", bad)
        assert answer.status_code == 400 and answer.json()["error"]["fields"].get("epoch"), (bad, answer.content)
    assert internal("get", CUSTODY).json() == {"state": "owner", "epoch": 0, "imported_epoch": 0}


def test_an_owner_refuses_imports_and_a_fenced_service_refuses_the_saga(internal, products) -> None:
    mug, _ = products
    level = {"product_id": str(mug.id), "on_hand": 99, "reserved": 0}
    overwrite = internal("post", f"{CUSTODY}levels/", {"epoch": 1, "levels": [level]})
    assert overwrite.status_code == 409 and overwrite.json()["error"]["code"] == "custody_owner"
    bad_level = internal("post", f"{CUSTODY}levels/", {"epoch": 1, "levels": [{**level, "reserved": 100}]})
    assert bad_level.status_code == 400
    assert StockLevel.objects.get(product_id=mug.id).on_hand == 5

    fenced = internal("post", f"{CUSTODY}fence/", {"epoch": 1})
    assert fenced.status_code == 200 and fenced.json()["digest"]["on_hand"] == 7
    assert internal("post", f"{CUSTODY}fence/", {"epoch": 1}).json() == fenced.json()  # safe to repeat
    body = {"order_id": str(uuid.uuid4()), "lines": [{"product_id": str(mug.id), "quantity": 1}]}
    waiting = internal("post", "/internal/v1/catalog/reservations/", body, key="k-1")
    assert waiting.status_code == 503 and waiting.json()["error"]["code"] == "stock_elsewhere"
    assert waiting["Retry-After"] == "1"
    assert StockLevel.objects.get(product_id=mug.id).reserved == 0
    assert StockCustody.objects.get().state == "fenced"
