"""Import batches become core.jobs jobs: progress percent and text, a message when failed, the
heartbeat, attempts and the worker, the outbox's send time, and whether a retry may help. Existing
rows keep their state: the percent is derived from the bytes read, a failed batch gets the
sentence its page showed, and a batch that was started counts one attempt."""

from django.db import migrations, models
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.db.models.functions import Cast, Least


def fill(apps, schema_editor):
    ImportBatch = apps.get_model("projects", "ImportBatch")  # noqa: N806
    ImportBatch.objects.filter(status="succeeded").update(progress_percent=100)
    ImportBatch.objects.filter(status__in=["queued", "running"], bytes_total__gt=0).update(
        progress_percent=Least(
            Cast(F("bytes_read") * 100 / F("bytes_total"), IntegerField()), Value(99)
        )
    )
    ImportBatch.objects.filter(~Q(started_at=None)).update(attempts=1)
    for batch in ImportBatch.objects.filter(status="failed", error=""):
        n = batch.error_count
        if batch.kind == "decisions":
            error = f"Re-deciding stopped: {n} problem{'' if n == 1 else 's'}."
        else:
            error = (
                f"The file was not imported: {n} problem{'' if n == 1 else 's'} found, and nothing was "
                "written. Fix the file and upload it again."
            )
        ImportBatch.objects.filter(pk=batch.pk).update(error=error)


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0005_guidelines_move_here'),
    ]

    operations = [
        migrations.AddField(
            model_name='importbatch',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0, help_text='Times a worker started it.'),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='enqueued_at',
            field=models.DateTimeField(blank=True, help_text='When the broker last accepted it; empty: not sent yet.', null=True),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='error',
            field=models.TextField(blank=True, help_text='Why it failed, in words for the people who asked.'),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, help_text='Last sign of life of its worker.', null=True),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='progress_percent',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='progress_text',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='retryable',
            field=models.BooleanField(default=False, help_text='Failed for a reason a retry may fix.'),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='run_after',
            field=models.DateTimeField(blank=True, help_text='Not to start before (debounce).', null=True),
        ),
        migrations.AddField(
            model_name='importbatch',
            name='worker',
            field=models.CharField(blank=True, help_text='The process running it.', max_length=200),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
