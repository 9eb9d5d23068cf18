"""The abstract model of a background job: its state, progress, error, times and attempts.

A job row is also the job's outbox entry: it is written in the transaction that asks for the work,
and handed to the broker after the commit (`enqueued_at` says when that last worked), so a broker
that is down delays a job but never loses it. While a job runs, its worker writes `heartbeat_at`
every few seconds: a running job whose heartbeat stopped lost its worker.
"""

from django.db import models


class JobState(models.TextChoices):
    """The four states every job goes through (queued -> running -> succeeded or failed)."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Job(models.Model):
    """Base of every job row. A subclass may store other words for the states in `status` (dataset
    releases keep "building" and "ready"): it lists them in STATUS_WORDS, state -> word."""

    Status = JobState
    STATUS_WORDS: dict[str, str] = {state: state for state in JobState.values}
    JOB_KIND = ""  # the name its kind is registered under (core.jobs.services.JobKind)

    status = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    progress_text = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True, help_text="Why it failed, in words for the people who asked.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of its worker.")
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it.")
    worker = models.CharField(max_length=200, blank=True, help_text="The process running it.")
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the broker last accepted it; empty: not sent yet."
    )
    run_after = models.DateTimeField(null=True, blank=True, help_text="Not to start before (debounce).")
    retryable = models.BooleanField(default=False, help_text="Failed for a reason a retry may fix.")

    class Meta:
        abstract = True

    @classmethod
    def status_for(cls, state: str) -> str:
        return cls.STATUS_WORDS[state]

    @property
    def state(self) -> str:
        for state, word in self.STATUS_WORDS.items():
            if word == self.status:
                return state
        raise ValueError(f"unknown status {self.status!r}")

    @property
    def job_kind(self) -> str:
        return self.JOB_KIND

    @property
    def is_finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)

    @property
    def percent(self) -> int | None:
        """0-99 while queued or running, 100 once succeeded, None once failed: a failed job has no
        progress to show."""
        if self.state == JobState.SUCCEEDED:
            return 100
        if self.state == JobState.FAILED:
            return None
        return min(99, self.progress_percent)
