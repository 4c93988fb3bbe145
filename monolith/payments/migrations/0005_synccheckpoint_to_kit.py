"""Backfill checkpoints move to the kit's table (strangler_extraction.BackfillCheckpoint, which
``strangler_backfill`` uses for every context): a backfill interrupted before this migration resumes
where it stopped. Names are the same in both tables (``payments_backfill:<target>``)."""

from django.db import migrations


def checkpoints_move(apps, schema_editor):
    old, new = apps.get_model("payments", "SyncCheckpoint"), apps.get_model("strangler_extraction", "BackfillCheckpoint")
    for checkpoint in old.objects.all():
        new.objects.update_or_create(name=checkpoint.name,
                                     defaults={"position": checkpoint.position, "copied": checkpoint.copied})


def checkpoints_move_back(apps, schema_editor):
    old, new = apps.get_model("payments", "SyncCheckpoint"), apps.get_model("strangler_extraction", "BackfillCheckpoint")
    for checkpoint in new.objects.filter(name__startswith="payments_backfill:"):
        old.objects.update_or_create(name=checkpoint.name,
                                     defaults={"position": checkpoint.position, "copied": checkpoint.copied})


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0004_charge_attempt"),
        ("strangler_extraction", "0002_backfillcheckpoint"),
    ]

    operations = [
        migrations.RunPython(checkpoints_move, checkpoints_move_back),
        migrations.DeleteModel(name="SyncCheckpoint"),
    ]
