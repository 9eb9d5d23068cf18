"""The one JSON shape of a background job in the API (a `job` object inside an import, a release or
the agreement endpoint's answer)."""

from rest_framework import serializers

from core.jobs.models import JobState
from core.jobs.selectors import job_status


class JobSerializer(serializers.Serializer):
    """The state of a background job, with the same keys for imports, re-deciding, agreement
    reports and releases."""

    kind = serializers.CharField(help_text='"import", "decisions", "agreement_report" or "release".')
    state = serializers.ChoiceField(
        choices=JobState.choices, help_text="queued, running, succeeded or failed, whatever the kind."
    )
    percent = serializers.IntegerField(
        allow_null=True, help_text="0-99 while queued or running, 100 when done, null when failed."
    )
    progress_text = serializers.CharField(
        allow_blank=True,
        help_text="What it is doing; while queued, whether it waits for a worker or for the job "
        "queue to be reachable again.",
    )
    error = serializers.CharField(allow_blank=True, help_text="Why it failed, when it failed.")
    stalled = serializers.BooleanField(
        help_text="Running, but its worker has not been heard from for a while: Concord starts it "
        "again or fails it within minutes."
    )
    attempts = serializers.IntegerField(help_text="How many times a worker started it.")
    retryable = serializers.BooleanField(
        help_text="Failed for a reason a retry may fix (its worker stopped): the page's Retry "
        "button or `manage.py jobs retry KIND ID`."
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True, help_text="Last sign of life of its worker.")
    finished_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, instance):
        return super().to_representation(job_status(instance))
