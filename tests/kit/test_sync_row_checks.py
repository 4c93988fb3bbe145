"""The engine's checks of incoming row values for the keys and flags a model gets by default
(strangler.django.extraction.rows.field_check): Django's auto primary keys, booleans, and foreign
and one-to-one keys, checked as the key of the model they point at."""

from __future__ import annotations

import uuid

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from strangler.django.extraction.rows import Invalid, field_check


def _check(label: str, name: str):
    return field_check(apps.get_model(label)._meta.get_field(name))


@pytest.mark.parametrize(("label", "name", "high"), [
    ("contenttypes.ContentType", "id", 2**31 - 1),  # AutoField
    ("orders.OrderLine", "id", 2**63 - 1),  # BigAutoField (DEFAULT_AUTO_FIELD)
])
def test_auto_keys_are_positive_integers_in_the_columns_range(label, name, high):
    check = _check(label, name)
    assert check(1) == 1 and check(high) == high
    for bad in (0, -1, high + 1, True, "1", 1.0, None):
        with pytest.raises(Invalid):
            check(bad)


def test_booleans_are_json_booleans_only():
    check = _check("catalog.Product", "active")
    assert check(True) is True and check(False) is False
    for bad in (1, 0, "true", None):
        with pytest.raises(Invalid):
            check(bad)


def test_foreign_and_one_to_one_keys_are_checked_as_the_key_they_point_at():
    some_id = uuid.uuid4()
    assert _check("orders.OrderLine", "order")(str(some_id)) == some_id  # ForeignKey to a UUID key
    assert _check("catalog.StockLevel", "product")(str(some_id)) == some_id  # OneToOneField to a UUID key
    to_auto = field_check(Permission._meta.get_field("content_type"))  # ForeignKey to an AutoField key
    assert to_auto(7) == 7
    with pytest.raises(Invalid):
        to_auto(str(some_id))
    assert ContentType._meta.pk.get_internal_type() == "AutoField"
