"""Migration 0005: the backfill checkpoints payments kept in its own table move to the kit's, so a
backfill interrupted before the upgrade resumes where it stopped (and back on a rollback)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("payments", "0004_charge_attempt"), ("strangler_extraction", "0002_backfillcheckpoint")]
AFTER = [("payments", "0005_synccheckpoint_to_kit")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_checkpoints_move_to_the_kits_table_and_back():
    old_apps = _migrate(BEFORE)
    position = '{"phase": "payments", "after": "00000000-0000-0000-0000-000000000009", "counts": {"payments": 10}}'
    old_apps.get_model("payments", "SyncCheckpoint").objects.create(
        name="payments_backfill:http://svc:8000", position=position, copied=10)

    new_apps = _migrate(AFTER)
    moved = new_apps.get_model("strangler_extraction", "BackfillCheckpoint").objects.get()
    assert (moved.name, moved.position, moved.copied) == ("payments_backfill:http://svc:8000", position, 10)
    assert "payments_synccheckpoint" not in connection.introspection.table_names()

    back = _migrate(BEFORE).get_model("payments", "SyncCheckpoint").objects.get()
    assert (back.name, back.position, back.copied) == ("payments_backfill:http://svc:8000", position, 10)
    _migrate(AFTER)
