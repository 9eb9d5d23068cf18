"""A history row for an automatic decision withdrawn or replaced ("undecided").

On SQLite, changing the check constraint rebuilds the table, which drops its triggers: the
append-only trigger of 0005 is created again at the end (a no-op re-creation on PostgreSQL)."""

from importlib import import_module

from django.conf import settings
from django.db import migrations, models

TRIGGERS = import_module("labeling.migrations.0005_labeling_event")


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0005_labeling_event'),
        ('projects', '0007_invitation_example_tag'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, TRIGGERS.create_trigger),
        migrations.RemoveConstraint(
            model_name='labelingevent',
            name='labeling_event_kind_valid',
        ),
        migrations.AlterField(
            model_name='labelingevent',
            name='kind',
            field=models.CharField(choices=[('leased', 'Example handed out'), ('lease_expired', 'Lease expired, example back in the pool'), ('skipped', 'Skipped'), ('edited', 'Label edited'), ('undone', 'Label undone'), ('unqueued', 'Taken out of the review queue: sent back for relabeling'), ('undecided', 'Decision withdrawn: labels changed or sent back')], max_length=16),
        ),
        migrations.AddConstraint(
            model_name='labelingevent',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['leased', 'lease_expired', 'skipped', 'edited', 'undone', 'unqueued', 'undecided'])), name='labeling_event_kind_valid'),
        ),
        migrations.RunPython(TRIGGERS.drop_trigger, migrations.RunPython.noop),
        migrations.RunPython(TRIGGERS.create_trigger, TRIGGERS.drop_trigger),
    ]
