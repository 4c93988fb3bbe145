"""Acknowledged delivery (strangler.django.outbox.acks): a row per event and queue until acknowledged."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('strangler_outbox', '0002_deadletter'),
    ]

    operations = [
        migrations.CreateModel(
            name='OutboxDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('queue', models.CharField(max_length=120)),
                ('sent_at', models.DateTimeField()),
                ('sends', models.PositiveIntegerField(default=1)),
                ('resend_at', models.DateTimeField()),
                ('message', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='strangler_outbox.outboxmessage')),
            ],
            options={
                'indexes': [models.Index(fields=['resend_at'], name='outbox_delivery_resend_idx')],
                'constraints': [models.UniqueConstraint(fields=('message', 'queue'), name='outbox_delivery_once_per_queue')],
            },
        ),
    ]
