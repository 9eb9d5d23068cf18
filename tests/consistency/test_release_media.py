"""A release of an image project: its media list (file name and SHA-256 per example) and the
release with its media as one streamed ZIP."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from consistency.releases.services import release_build
from labeling.models import ConsensusLabel
from tests.factories import ExampleFactory
from tests.media_files import image_bytes

pytestmark = pytest.mark.django_db


def _media_example(project, external_id, data):
    sha = hashlib.sha256(data).hexdigest()
    stored = default_storage.save(f"media/{project.pk}/{sha}.png", ContentFile(data))
    example = ExampleFactory(
        project=project,
        external_id=external_id,
        text="",
        media_file=stored,
        media_name=f"scans/{external_id}.png",
        media_type="image/png",
        media_sha256=sha,
        media_bytes=len(data),
    )
    ConsensusLabel.objects.create(
        example=example,
        label=project.labels.get(name="bug"),
        source="unanimous",
        agreement=1.0,
        n_raters=3,
        decided_at=timezone.now(),
    )
    return example


def test_release_zip_holds_the_jsonl_the_media_list_and_each_file_once(project, manager, manager_client):
    red, blue = image_bytes(colour=(255, 0, 0)), image_bytes(colour=(0, 0, 255))
    _media_example(project, "a", red)
    _media_example(project, "b", blue)
    _media_example(project, "c", red)  # the same picture twice: stored and zipped once
    release = release_build(project=project, user=manager, tag="v1")

    page = manager_client.get(f"/projects/{project.slug}/releases/v1/")
    assert b'id="download-media-zip"' in page.content
    response = manager_client.get(f"/projects/{project.slug}/releases/v1/download/media/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="support-v1-with-media.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    red_sha, blue_sha = hashlib.sha256(red).hexdigest(), hashlib.sha256(blue).hexdigest()
    assert sorted(archive.namelist()) == sorted(
        ["media.jsonl", "support-v1.jsonl", f"media/{red_sha}.png", f"media/{blue_sha}.png"]
    )
    assert archive.read(f"media/{blue_sha}.png") == blue
    with default_storage.open(release.jsonl_file, "rb") as handle:
        assert archive.read("support-v1.jsonl") == handle.read()
    listed = [json.loads(line) for line in archive.read("media.jsonl").splitlines()]
    assert [(row["id"], row["file"], row["sha256"]) for row in listed] == [
        ("a", "scans/a.png", red_sha),
        ("b", "scans/b.png", blue_sha),
        ("c", "scans/c.png", red_sha),
    ]
    listing = manager_client.get(f"/projects/{project.slug}/releases/v1/download/media-list/")
    assert b"".join(listing.streaming_content) == archive.read("media.jsonl")


def test_text_releases_have_no_media_download_and_labelers_none_at_all(
    project, manager, manager_client, labeler_client
):
    example = ExampleFactory(project=project, external_id="t")
    ConsensusLabel.objects.create(
        example=example,
        label=project.labels.get(name="bug"),
        source="unanimous",
        agreement=1.0,
        n_raters=3,
        decided_at=timezone.now(),
    )
    release_build(project=project, user=manager, tag="v1")
    assert b"download-media-zip" not in manager_client.get(f"/projects/{project.slug}/releases/v1/").content
    assert manager_client.get(f"/projects/{project.slug}/releases/v1/download/media/").status_code == 404
    _media_example(project, "m", image_bytes())
    assert labeler_client.get(f"/projects/{project.slug}/releases/v1/download/media/").status_code == 403
