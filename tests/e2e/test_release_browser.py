"""A release built while its page is open, in a real browser: the finished state (downloads,
counts, comparison) arrives without a reload, and the polling stops."""

import pytest
from django.utils import timezone

from consistency.releases.services import release_build, release_build_run, release_create
from labeling.models import ConsensusLabel
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_finished_release_appears_without_a_reload(page, login, project, manager):
    bug = project.labels.get(name="bug")
    for n in range(3):
        ConsensusLabel.objects.create(
            example=ExampleFactory(project=project, external_id=f"r{n}"),
            label=bug, source="unanimous", agreement=1.0, n_raters=3, decided_at=timezone.now(),
        )  # fmt: skip
    release_build(project=project, user=manager, tag="v1")
    building = release_create(project=project, user=manager, tag="v2", run_in_background=False)

    login(manager)
    page.goto("/projects/support/releases/v2/")
    page.wait_for_selector("#release-status[data-status=building]")
    page.evaluate("window.concordMarker = 'no-reload'")
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/releases/v2/" in request.url else None)
    release_build_run(release_id=building.pk)

    page.wait_for_selector("#download-jsonl")
    assert page.evaluate("window.concordMarker") == "no-reload"
    assert page.locator("#release-counts").is_visible()
    assert page.locator("#release-compare select").input_value() == "v1"
    assert "being built" not in page.inner_text("main")
    status = page.locator("#release-status")
    assert status.get_attribute("data-status") == "ready"
    assert status.get_attribute("hx-trigger") is None  # nothing left that polls
    assert polls  # the finished state came from polling
    assert page.csp_errors == []


def test_the_release_page_downloads_the_files_for_other_tools(page, login, project, manager, tmp_path):
    import io
    import json
    import zipfile

    import pyarrow.parquet as pq

    bug = project.labels.get(name="bug")
    for n in range(5):
        ConsensusLabel.objects.create(
            example=ExampleFactory(project=project, external_id=f"r{n}", metadata={"n": n}),
            label=bug, source="unanimous", agreement=1.0, n_raters=3, decided_at=timezone.now(),
        )  # fmt: skip
    release_build(project=project, user=manager, tag="v1")

    login(manager)
    page.goto("/projects/support/releases/v1/")
    files = {}
    for link in ("parquet-train", "hf", "labelstudio"):
        with page.expect_download() as download:
            page.click(f"#download-{link}")
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        files[link] = path
    assert files["parquet-train"].name == "support-v1-train.parquet"
    assert (
        pq.read_table(files["parquet-train"]).column("label").to_pylist()
        == ["bug"] * pq.read_table(files["parquet-train"]).num_rows
    )
    assert "README.md" in zipfile.ZipFile(io.BytesIO(files["hf"].read_bytes())).namelist()
    assert len(json.loads(files["labelstudio"].read_text(encoding="utf-8"))) == 5
    assert page.csp_errors == []
