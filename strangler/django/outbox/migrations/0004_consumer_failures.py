"""Dead letters become per consumer (strangler.django.outbox.failures). Letters parked before,
one per envelope, are kept as dead rows of the consumer "*" (which consumer failed was not recorded);
`strangler_dead_letters --retry` runs every consumer of such an envelope again (the inbox skips the
ones that had run)."""

import django.core.serializers.json
from django.db import migrations, models


def _keep_old_letters(apps, schema_editor):
    old, new = apps.get_model("strangler_outbox", "DeadLetter"), apps.get_model("strangler_outbox", "ConsumerFailure")
    kept = {}
    for letter in old.objects.order_by("created_at", "id"):
        kept[letter.event_id] = new(event_id=letter.event_id, event_type=letter.event_type, consumer="*",
                                    envelope=letter.envelope, error=letter.error, attempts=letter.attempts,
                                    first_failed_at=letter.created_at, last_failed_at=letter.created_at,
                                    next_attempt_at=None)
    new.objects.bulk_create(kept.values())


class Migration(migrations.Migration):

    dependencies = [
        ('strangler_outbox', '0003_delivery'),
    ]

    operations = [
        migrations.CreateModel(
            name='ConsumerFailure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event_id', models.UUIDField()),
                ('event_type', models.CharField(max_length=120)),
                ('consumer', models.CharField(max_length=120)),
                ('envelope', models.JSONField(encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('error', models.TextField()),
                ('attempts', models.PositiveIntegerField(default=1)),
                ('first_failed_at', models.DateTimeField()),
                ('last_failed_at', models.DateTimeField()),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.RunPython(_keep_old_letters, migrations.RunPython.noop),
        migrations.DeleteModel(
            name='DeadLetter',
        ),
        migrations.AddIndex(
            model_name='consumerfailure',
            index=models.Index(fields=['next_attempt_at'], name='consumer_failure_due_idx'),
        ),
        migrations.AddConstraint(
            model_name='consumerfailure',
            constraint=models.UniqueConstraint(fields=('event_id', 'consumer'), name='consumer_failure_once'),
        ),
    ]
