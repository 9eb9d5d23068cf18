"""A release whose worker died mid-build: an outside audit killed a worker with SIGKILL while it wrote
the files, and the release stayed "building" for good beside 200,000 orphan item rows (a redelivered
message refused to claim it for 3 hours). Now the build is started again without the leftovers, or
after its last attempt fails with a message and a Retry button; a ready release never changes."""

import hashlib
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from consistency.releases.models import DatasetRelease, DatasetReleaseItem
from consistency.releases.services import release_build, release_build_run, release_create
from core.errors import Conflict
from core.jobs.services import job_retry, jobs_sweep
from labeling.models import ConsensusLabel
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db
KILLED_WORKER = "another-host/b00t/4242/1"  # a worker on another machine, silent since it was killed


@pytest.fixture
def decided(project):
    bug = project.labels.get(name="bug")
    for n in range(3):
        ConsensusLabel.objects.create(
            example=ExampleFactory(project=project, external_id=f"e{n}"),
            label=bug,
            source="unanimous",
            agreement=1.0,
            n_raters=3,
            decided_at=timezone.now(),
        )
    return project


def killed_mid_build(project, *, attempts=1) -> DatasetRelease:
    """The state a SIGKILL left: items written and committed, half a JSONL file stored, half a CSV
    file written in place, the row "building" with a heartbeat from before the kill, and no
    exception handler ever ran."""
    release = release_create(project=project, user=None, tag="v1", run_in_background=False)
    DatasetRelease.objects.filter(pk=release.pk).update(
        status="building",
        started_at=timezone.now() - timedelta(minutes=10),
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        worker=KILLED_WORKER,
        attempts=attempts,
        progress_percent=60,
        progress_text="Writing the JSONL file",
    )
    for n in range(3):
        DatasetReleaseItem.objects.create(
            release=release, external_id=f"orphan-{n}", label="bug", source="unanimous", split="train"
        )
    default_storage.save(f"releases/{project.pk}/{release.pk}-v1.jsonl", ContentFile(b'{"external_id": "e0"'))
    # A file being written in place, beside its final name.
    default_storage.save(
        f"releases/{project.pk}/{release.pk}-v1.csv.5eed1e55.part", ContentFile(b"external_id,")
    )
    return DatasetRelease.objects.get(pk=release.pk)


def stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def test_a_redelivered_message_builds_it_again_without_the_orphans(decided):
    release = killed_mid_build(decided)

    built = release_build_run(release_id=release.pk)

    assert built is not None, "the release stayed 'building': the redelivered message refused it"
    assert built.status == "ready"
    assert sorted(built.items.values_list("external_id", flat=True)) == ["e0", "e1", "e2"]
    body = stored(built.jsonl_file)
    assert body.count(b"\n") == 3
    assert hashlib.sha256(body).hexdigest() == built.sha256
    fresh = release_build(project=decided, user=None, tag="same-data")
    assert fresh.sha256 == built.sha256  # the same bytes as a build that was never interrupted


def test_the_sweeper_starts_it_again_without_its_leftovers(decided, django_capture_on_commit_callbacks):
    release = killed_mid_build(decided)

    with django_capture_on_commit_callbacks(execute=True):
        counts = jobs_sweep()

    assert counts["release"]["restarted"] == 1
    release.refresh_from_db()
    assert (release.status, release.n_items, release.attempts) == ("ready", 3, 2)
    assert not DatasetReleaseItem.objects.filter(release=release, external_id__startswith="orphan").exists()


def test_after_its_last_attempt_it_fails_its_leftovers_go_and_retry_builds_it(
    decided, manager_client, settings, django_capture_on_commit_callbacks
):
    settings.CONCORD_JOB_MAX_ATTEMPTS = 2
    release = killed_mid_build(decided, attempts=2)

    assert jobs_sweep()["release"]["failed"] == 1

    release.refresh_from_db()
    assert release.status == "failed"
    assert "Its worker stopped while running it" in release.error
    assert not release.items.exists()
    assert default_storage.listdir(f"releases/{decided.pk}")[1] == []
    url = reverse("consistency:release_detail", args=[decided.slug, "v1"])
    page = manager_client.get(url).content.decode()
    retry_url = reverse("consistency:release_retry", args=[decided.slug, "v1"])
    assert f'action="{retry_url}"' in page
    api = manager_client.get(f"/api/v1/projects/{decided.slug}/releases/v1/").json()
    assert (api["status"], api["job"]["state"], api["job"]["retryable"]) == ("failed", "failed", True)

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(retry_url)

    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.status, release.tag, release.n_items, release.error) == ("ready", "v1", 3, "")


def test_only_a_release_that_failed_for_a_reason_a_retry_may_fix_is_retried(decided, manager_client):
    ready = release_build(project=decided, user=None, tag="done")
    with pytest.raises(Conflict):
        job_retry(job=ready)
    refused = release_create(project=decided, user=None, tag="refused", run_in_background=False)
    DatasetRelease.objects.filter(pk=refused.pk).update(status="failed", error="No such field.")
    refused.refresh_from_db()
    with pytest.raises(Conflict):
        job_retry(job=refused)

    response = manager_client.post(
        reverse("consistency:release_retry", args=[decided.slug, "done"]), follow=True
    )
    assert "Only a failed job can be retried" in response.content.decode()
    ready.refresh_from_db()
    assert ready.status == "ready"


def test_a_release_waiting_for_a_worker_reads_as_building_in_the_api(decided, manager_client):
    release_create(project=decided, user=None, tag="waiting", run_in_background=False)
    detail = manager_client.get(f"/api/v1/projects/{decided.slug}/releases/waiting/").json()
    assert (detail["status"], detail["job"]["state"]) == ("building", "queued")
    assert detail["progress_text"] == detail["job"]["progress_text"] == "Waiting for a worker"


def test_a_build_that_fails_while_writing_leaves_no_file(decided, monkeypatch):
    from consistency.releases.writers import CsvWriter

    def broken(self, rows):
        raise OSError("disk full")

    monkeypatch.setattr(CsvWriter, "write_rows", broken)
    release = release_build(project=decided, user=None, tag="v1")

    assert release.status == "failed"
    assert not release.items.exists()
    assert default_storage.listdir(f"releases/{decided.pk}")[1] == []
