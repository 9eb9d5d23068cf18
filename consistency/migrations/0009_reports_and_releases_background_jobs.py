"""Agreement reports and dataset releases become core.jobs jobs (heartbeat, attempts, worker, the
outbox's send time, whether a retry may help). A release waiting for a worker is now "queued"
("building" means a worker builds it): existing releases that never started move there. Adding
columns makes SQLite rebuild the release table, which its triggers would not survive (and which
the item table's trigger, naming it, would refuse): the immutability triggers of ready releases
are dropped first and created again at the end, on every database."""

import importlib

from django.db import migrations, models
from django.db.models import Q

_immutable = importlib.import_module("consistency.migrations.0006_dataset_release_immutable")


def statuses_forward(apps, schema_editor):
    DatasetRelease = apps.get_model("consistency", "DatasetRelease")  # noqa: N806
    AgreementReport = apps.get_model("consistency", "AgreementReport")  # noqa: N806
    DatasetRelease.objects.filter(status="building", started_at=None).update(status="queued")
    for model in (DatasetRelease, AgreementReport):
        model.objects.filter(~Q(started_at=None)).update(attempts=1)


def statuses_backward(apps, schema_editor):
    DatasetRelease = apps.get_model("consistency", "DatasetRelease")  # noqa: N806
    DatasetRelease.objects.filter(status="queued").update(status="building")




class Migration(migrations.Migration):

    dependencies = [
        ('consistency', '0008_guidelines_and_decisions_move_out'),
    ]

    operations = [
        migrations.RunPython(_immutable.drop_triggers, _immutable.create_triggers),
        migrations.RemoveConstraint(
            model_name='datasetrelease',
            name='dataset_release_status_valid',
        ),
        migrations.AddField(
            model_name='agreementreport',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='Times a worker started it.'),
        ),
        migrations.AddField(
            model_name='agreementreport',
            name='enqueued_at',
            field=models.DateTimeField(blank=True, help_text='When the broker last accepted it; empty: not sent yet.', null=True),
        ),
        migrations.AddField(
            model_name='agreementreport',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, help_text='Last sign of life of its worker.', null=True),
        ),
        migrations.AddField(
            model_name='agreementreport',
            name='retryable',
            field=models.BooleanField(default=False, help_text='Failed for a reason a retry may fix.'),
        ),
        migrations.AddField(
            model_name='agreementreport',
            name='run_after',
            field=models.DateTimeField(blank=True, help_text='Not to start before (debounce).', null=True),
        ),
        migrations.AddField(
            model_name='agreementreport',
            name='worker',
            field=models.CharField(blank=True, help_text='The process running it.', max_length=200),
        ),
        migrations.AddField(
            model_name='datasetrelease',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='Times a worker started it.'),
        ),
        migrations.AddField(
            model_name='datasetrelease',
            name='enqueued_at',
            field=models.DateTimeField(blank=True, help_text='When the broker last accepted it; empty: not sent yet.', null=True),
        ),
        migrations.AddField(
            model_name='datasetrelease',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, help_text='Last sign of life of its worker.', null=True),
        ),
        migrations.AddField(
            model_name='datasetrelease',
            name='retryable',
            field=models.BooleanField(default=False, help_text='Failed for a reason a retry may fix.'),
        ),
        migrations.AddField(
            model_name='datasetrelease',
            name='run_after',
            field=models.DateTimeField(blank=True, help_text='Not to start before (debounce).', null=True),
        ),
        migrations.AddField(
            model_name='datasetrelease',
            name='worker',
            field=models.CharField(blank=True, help_text='The process running it.', max_length=200),
        ),
        migrations.AlterField(
            model_name='agreementreport',
            name='error',
            field=models.TextField(blank=True, help_text='Why it failed, in words for the people who asked.'),
        ),
        migrations.AlterField(
            model_name='datasetrelease',
            name='error',
            field=models.TextField(blank=True, help_text='Why it failed, in words for the people who asked.'),
        ),
        migrations.AlterField(
            model_name='datasetrelease',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('building', 'Building'), ('ready', 'Ready'), ('failed', 'Failed')], default='queued', max_length=16),
        ),
        migrations.RunPython(statuses_forward, statuses_backward),
        migrations.AddConstraint(
            model_name='datasetrelease',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'building', 'ready', 'failed'])), name='dataset_release_status_valid'),
        ),
        migrations.RunPython(_immutable.create_triggers, _immutable.drop_triggers),
    ]
