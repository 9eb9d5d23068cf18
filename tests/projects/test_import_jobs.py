"""An import whose worker died: an outside audit killed a worker with SIGKILL mid-import and the job
said "running 82%" for good. Now the sweeper runs it again (nothing of the killed run was written:
imports are all or nothing), or after its last attempt fails it with a message and a Retry button;
the uploaded file is kept for that retry for CONCORD_JOB_RETRY_DAYS, then deleted. Re-deciding after
a rule change recovers the same way."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from core.jobs.services import jobs_sweep
from projects.models import ImportBatch
from projects.services.imports import import_batch_create
from projects.services.projects import project_update
from tests.factories import AnnotationFactory, ExampleFactory, UserFactory

pytestmark = pytest.mark.django_db
KILLED_WORKER = "another-host/b00t/4242/1"


def killed_mid_import(project, tmp_path, *, attempts=1, rows=50) -> ImportBatch:
    path = tmp_path / "tickets.csv"
    path.write_text("id,text\n" + "".join(f"t-{n},Ticket {n}\n" for n in range(rows)), encoding="utf-8")
    batch = import_batch_create(
        project=project, user=None, uploaded_file_or_path=path, source_name=path.name, run_in_background=False
    )
    ImportBatch.objects.filter(pk=batch.pk).update(
        status="running",
        started_at=timezone.now() - timedelta(minutes=10),
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        worker=KILLED_WORKER,
        attempts=attempts,
        bytes_read=int(batch.bytes_total * 0.82),
        progress_percent=82,
    )
    return ImportBatch.objects.get(pk=batch.pk)


def test_the_sweeper_runs_a_killed_import_again(project, tmp_path, django_capture_on_commit_callbacks):
    batch = killed_mid_import(project, tmp_path)

    with django_capture_on_commit_callbacks(execute=True):
        counts = jobs_sweep()

    assert counts["import"]["restarted"] == 1
    batch.refresh_from_db()
    assert (batch.status, batch.rows_created, batch.attempts) == ("succeeded", 50, 2)
    assert project.examples.count() == 50
    assert not default_storage.exists(batch.stored_file or "imports/none")


def test_after_its_last_attempt_it_fails_keeps_its_file_and_retries_from_the_page(
    project, tmp_path, manager_client, settings, django_capture_on_commit_callbacks
):
    settings.CONCORD_JOB_MAX_ATTEMPTS = 2
    batch = killed_mid_import(project, tmp_path, attempts=2)

    assert jobs_sweep()["import"]["failed"] == 1

    batch.refresh_from_db()
    assert batch.status == "failed"
    assert batch.percent is None  # no "82%" left on a failed job
    assert default_storage.exists(batch.stored_file)  # kept for the retry
    status_url = reverse("projects:import_status", args=[project.slug, batch.pk])
    page = manager_client.get(status_url).content.decode()
    assert "Its worker stopped while running it" in page
    retry_url = reverse("projects:import_retry", args=[project.slug, batch.pk])
    assert f'action="{retry_url}"' in page
    api = manager_client.get(f"/api/v1/projects/{project.slug}/imports/{batch.pk}/").json()
    assert (api["status"], api["percent"], api["job"]["retryable"]) == ("failed", None, True)

    with django_capture_on_commit_callbacks(execute=True):
        assert manager_client.post(retry_url).status_code == 302

    batch.refresh_from_db()
    assert (batch.status, batch.rows_created, batch.error) == ("succeeded", 50, "")
    assert not default_storage.exists(batch.stored_file or "imports/none")
    assert "Imported 50 new examples" in manager_client.get(status_url).content.decode()


def test_the_file_of_a_failed_import_is_not_kept_past_the_retry_days(project, tmp_path, settings):
    settings.CONCORD_JOB_MAX_ATTEMPTS = 1
    settings.CONCORD_JOB_RETRY_DAYS = 7
    batch = killed_mid_import(project, tmp_path)
    jobs_sweep()
    ImportBatch.objects.filter(pk=batch.pk).update(finished_at=timezone.now() - timedelta(days=8))

    assert jobs_sweep()["import"]["expired"] == 1

    batch.refresh_from_db()
    assert (batch.status, batch.retryable, batch.stored_file) == ("failed", False, "")
    assert not any(settings.PRIVATE_STORAGE_ROOT.rglob("*.csv"))


def test_a_file_with_problems_is_not_retried(
    project, tmp_path, manager_client, django_capture_on_commit_callbacks
):
    path = tmp_path / "bad.csv"
    path.write_text("id,text\n1,\n", encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        batch = import_batch_create(
            project=project, user=None, uploaded_file_or_path=path, source_name="bad.csv"
        )
    batch.refresh_from_db()
    assert (batch.status, batch.retryable) == ("failed", False)
    status_url = reverse("projects:import_status", args=[project.slug, batch.pk])
    assert "Retry" not in manager_client.get(status_url).content.decode()

    response = manager_client.post(
        reverse("projects:import_retry", args=[project.slug, batch.pk]), follow=True
    )

    assert "failed for a reason a retry would not fix" in response.content.decode()
    assert ImportBatch.objects.get(pk=batch.pk).status == "failed"


def test_re_deciding_whose_worker_died_is_run_again(project, manager, django_capture_on_commit_callbacks):
    raters = [UserFactory(username=f"r{n}") for n in range(3)]
    bug = project.labels.get(name="bug")
    example = ExampleFactory(project=project, annotation_count=3)
    for rater in raters:
        AnnotationFactory(example=example, rater=rater, label=bug)
    with django_capture_on_commit_callbacks(execute=False):
        project_update(project=project, user=manager, accept_majority=True)
    job = ImportBatch.objects.get(kind="decisions")
    ImportBatch.objects.filter(pk=job.pk).update(
        status="running", started_at=timezone.now() - timedelta(hours=1), worker=KILLED_WORKER, attempts=1
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep()["decisions"]["restarted"] == 1

    job.refresh_from_db()
    assert (job.status, job.attempts, job.summary["decisions"]["unanimous"]) == ("succeeded", 2, 1)
