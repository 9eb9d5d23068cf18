"""Release pages and API: who may see them, the build through the page, byte-identical downloads
with safe headers, the diff page, and the API's list, create, detail, download and diff."""

import hashlib
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from consistency.releases.models import DatasetRelease
from consistency.releases.services import release_build, release_build_run, release_create
from labeling.models import ConsensusLabel
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(project, manager):
    bug = project.labels.get(name="bug")
    for n, text in enumerate(["=1+1", 'quote " \\ back', "line\nbreak"]):
        ConsensusLabel.objects.create(
            example=ExampleFactory(project=project, external_id=f"e{n}", text=text),
            label=bug,
            source="unanimous",
            agreement=1.0,
            n_raters=3,
            decided_at=timezone.now(),
        )
    return release_build(project=project, user=manager, tag="v1")


def _page_urls(project, release):
    slug, tag = project.slug, release.tag
    return [
        reverse("consistency:releases", args=[slug]),
        reverse("consistency:release_detail", args=[slug, tag]),
        reverse("consistency:release_download", args=[slug, tag, "jsonl"]),
        reverse("consistency:release_download", args=[slug, tag, "csv"]),
        reverse("consistency:release_diff", args=[slug]) + f"?old={tag}&new={tag}",
    ]


def _api_urls(project, release):
    base = f"/api/v1/projects/{project.slug}/releases/"
    return [
        base,
        f"{base}{release.tag}/",
        f"{base}{release.tag}/download/jsonl/",
        f"{base}diff/?old=v1&new=v1",
    ]


@pytest.mark.parametrize("role_client", ["manager_client", "sme_client"])
def test_managers_and_smes_see_every_release_url(request, role_client, project, release):
    client = request.getfixturevalue(role_client)
    for url in _page_urls(project, release) + _api_urls(project, release):
        response = client.get(url)
        assert response.status_code == 200, url


def test_labelers_get_403_outsiders_404_anonymous_login(client, project, release, labeler, outsider):
    urls = _page_urls(project, release) + _api_urls(project, release)
    for url in urls:
        response = client.get(url)
        expected = 401 if url.startswith("/api/") else 302
        assert response.status_code == expected, url
    client.force_login(labeler)
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert (
        client.post(reverse("consistency:releases", args=[project.slug]), {"sources": ["gold"]}).status_code
        == 403
    )
    client.force_login(outsider)
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert (
        client.post(
            f"/api/v1/projects/{project.slug}/releases/", {}, content_type="application/json"
        ).status_code
        == 404
    )


def test_download_twice_gives_identical_bytes_and_safe_headers(manager_client, project, release):
    url = reverse("consistency:release_download", args=[project.slug, release.tag, "jsonl"])
    first = manager_client.get(url)
    second = manager_client.get(url)
    body = b"".join(first.streaming_content)
    assert body == b"".join(second.streaming_content)
    assert hashlib.sha256(body).hexdigest() == release.sha256
    assert first["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert first["Content-Disposition"] == 'attachment; filename="support-v1.jsonl"'
    assert first["X-Content-Type-Options"] == "nosniff"
    csv = manager_client.get(reverse("consistency:release_download", args=[project.slug, release.tag, "csv"]))
    assert csv["Content-Type"] == "text/csv; charset=utf-8"
    assert b"'=1+1" in b"".join(csv.streaming_content)
    api = manager_client.get(
        f"/api/v1/projects/{project.slug}/releases/v1/download/jsonl/", HTTP_ACCEPT="application/x-ndjson"
    )
    assert b"".join(api.streaming_content) == body
    assert manager_client.get(url.replace("jsonl", "html")).status_code == 404
    as_array = manager_client.get(url.replace("jsonl", "json"))
    array_body = b"".join(as_array.streaming_content)
    assert as_array["Content-Type"] == "application/json; charset=utf-8"
    assert int(as_array["Content-Length"]) == len(array_body)
    assert json.loads(array_body) == [json.loads(line) for line in body.split(b"\n") if line]


def test_create_through_the_page_builds_in_the_task(
    manager_client, project, release, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            reverse("consistency:releases", args=[project.slug]),
            {"tag": "", "sources": ["gold", "unanimous"], "min_agreement": "0.5", "exclude_ambiguous": "on",
             "min_posterior": "0.9", "train": "0.8", "dev": "0.1", "test": "0.1", "stratify_field": ""},
        )  # fmt: skip
    assert response.status_code == 302
    new = DatasetRelease.objects.get(project=project, tag="v2")
    assert response["Location"] == reverse("consistency:release_detail", args=[project.slug, "v2"])
    assert new.status == "ready"
    assert new.sha256 == release.sha256  # same data, same policy outcome, same bytes
    assert new.policy["sources"] == ["gold", "unanimous"]
    page = manager_client.get(response["Location"])
    assert b"download-jsonl" in page.content
    duplicate = manager_client.post(
        reverse("consistency:releases", args=[project.slug]),
        {"tag": "v1", "sources": ["gold"], "min_agreement": "0", "min_posterior": "0.9",
         "train": "0.8", "dev": "0.1", "test": "0.1"},
    )  # fmt: skip
    assert duplicate.status_code == 400
    assert b"already has a release tagged" in duplicate.content


def test_progress_partial_polls_while_building(manager_client, project):
    building = DatasetRelease.objects.create(
        project=project, tag="wip", progress_percent=40, progress_text="Writing"
    )
    url = reverse("consistency:release_detail", args=[project.slug, building.tag])
    page = manager_client.get(url)
    assert b'hx-trigger="every 2s"' in page.content
    assert b">Refresh</a>" in page.content
    partial = manager_client.get(url, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content
    assert b"Writing" in partial.content
    download = manager_client.get(
        reverse("consistency:release_download", args=[project.slug, "wip", "jsonl"])
    )
    assert download.status_code == 302


def test_diff_page_and_api(manager_client, project, release, manager):
    ConsensusLabel.objects.filter(example__external_id="e0").update(
        label=project.labels.get(name="feature"), source="gold", agreement=None
    )
    release_build(project=project, user=manager, tag="v2")
    page = manager_client.get(reverse("consistency:release_diff", args=[project.slug]) + "?old=v1&new=v2")
    assert b"1 relabeled" in page.content
    api = manager_client.get(f"/api/v1/projects/{project.slug}/releases/diff/?old=v1&new=v2").json()
    assert api["counts"]["relabeled"] == 1
    assert api["relabeled"][0] == {"external_id": "e0", "old_label": "bug", "new_label": "feature"}


def test_api_create_and_detail(manager_client, project, release, django_capture_on_commit_callbacks):
    url = f"/api/v1/projects/{project.slug}/releases/"
    with django_capture_on_commit_callbacks(execute=True):
        created = manager_client.post(
            url, {"tag": "api-1", "policy": {"min_agreement": 0.5}}, content_type="application/json"
        )
    assert created.status_code == 202
    detail = manager_client.get(f"{url}api-1/").json()
    assert detail["status"] == "ready"
    assert detail["n_items"] == 3
    assert detail["sha256"] == release.sha256
    listed = manager_client.get(url).json()
    assert [r["tag"] for r in listed["results"]] == ["api-1", "v1"]
    bad = manager_client.post(url, {"policy": {"ratios": [1, 1, 1]}}, content_type="application/json")
    assert bad.status_code == 400


def test_a_refused_release_says_why_once(manager_client, project, release):
    response = manager_client.post(
        reverse("consistency:releases", args=[project.slug]),
        {"tag": "v1", "sources": ["gold"], "min_agreement": "0", "min_posterior": "0.9",
         "train": "0.8", "dev": "0.1", "test": "0.1"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.content.decode().count("already has a release tagged") == 1


def test_the_status_partial_swaps_in_the_finished_release_and_stops_polling(manager_client, project, release):
    building = release_create(project=project, user=None, tag="v2", run_in_background=False)
    url = reverse("consistency:release_detail", args=[project.slug, building.tag])
    polling = manager_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in polling
    release_build_run(release_id=building.pk)
    final = manager_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert final.strip().startswith('<div id="release-status"')
    assert "hx-trigger" not in final
    assert "hx-get" not in final
    assert 'id="download-jsonl"' in final
    assert 'id="release-counts"' in final  # the counts arrive with the final state
    assert '<option value="v1" selected>' in final  # compared with the release before it


def test_compare_opens_on_the_previous_release_against_the_latest(manager_client, project, release, manager):
    ConsensusLabel.objects.filter(example__external_id="e0").update(
        label=project.labels.get(name="feature"), source="gold", agreement=None
    )
    release_build(project=project, user=manager, tag="v2")
    release_build(project=project, user=manager, tag="v3")
    url = reverse("consistency:release_diff", args=[project.slug])
    page = manager_client.get(url).content.decode()
    old_side = '<select name="old" id="id_old" class="auto-width">'
    assert f'{old_side}<option value="v3">v3</option><option value="v2" selected>' in page
    assert '<select name="new" id="id_new" class="auto-width"><option value="v3" selected>' in page
    assert "v2 → v3" in page
    # Given only the newer side, the older side is the release before it.
    assert "v1 → v2" in manager_client.get(url, {"new": "v2"}).content.decode()
    assert "1 relabeled" in manager_client.get(url, {"new": "v2"}).content.decode()
    detail = manager_client.get(reverse("consistency:release_detail", args=[project.slug, "v2"]))
    assert '<option value="v1" selected>' in detail.content.decode()


def test_compare_with_one_release_says_a_second_is_needed(manager_client, project, release):
    page = manager_client.get(reverse("consistency:release_diff", args=[project.slug])).content.decode()
    assert "Comparing needs two ready releases" in page
    assert 'id="release-diff"' not in page


def test_the_release_page_says_when_dawid_skene_did_not_converge(
    manager_client, project, manager, monkeypatch
):
    from tests.factories import AnnotationFactory, UserFactory

    monkeypatch.setattr("consistency.releases.services.DAWID_SKENE_MAX_ITER", 100)

    # One rater says billing twice; all three say other once: EM creeps on this and hits its limit.
    raters = [UserFactory(username=f"ds{i}") for i in range(3)]
    labels = {label.name: label for label in project.labels.all()}
    for n, (name, who) in enumerate([("billing", raters[:1]), ("billing", raters[:1]), ("other", raters)]):
        example = ExampleFactory(project=project, external_id=f"open{n}")
        for rater in who:
            AnnotationFactory(example=example, rater=rater, label=labels[name])
    release = release_build(project=project, user=manager, tag="ds", policy={"use_dawid_skene": True})
    release.refresh_from_db()
    assert release.counts["dawid_skene"] == {"converged": False, "n_iter": 100, "max_iter": 100}
    url = reverse("consistency:release_detail", args=[project.slug, release.tag])
    assert (
        "<strong>did not converge</strong> within 100 iterations" in manager_client.get(url).content.decode()
    )
    plain = release_build(project=project, user=manager, tag="plain")
    plain.refresh_from_db()
    assert "dawid_skene" not in plain.counts
    assert 'id="dawid-skene-fit"' not in manager_client.get(url.replace("/ds/", "/plain/")).content.decode()
