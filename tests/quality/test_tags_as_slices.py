"""Tags in bulk (CLI and API, by ids or by the browser's filters) and tags as slices: agreement
report slices per tag, and release filters that keep or drop tagged examples."""

import io

import pytest
from django.core.management import CommandError, call_command

from consistency.agreement.selectors import TAG_SLICE, agreement_compute
from consistency.releases.policy import PolicyError, ReleasePolicy
from consistency.releases.services import release_build
from labeling.models import ConsensusLabel
from projects.models import ExampleTag
from tests.factories import AnnotationFactory, ExampleFactory


@pytest.fixture
def examples(project, raters):
    rows = []
    labels = list(project.labels.all())
    for i in range(6):
        example = ExampleFactory(
            project=project, external_id=f"x{i}", metadata={"channel": "chat" if i % 2 else "email"}
        )
        for j, rater in enumerate(raters):
            AnnotationFactory(example=example, rater=rater, label=labels[(i + (j == 2 and i < 3)) % 4])
        ConsensusLabel.objects.create(
            example=example,
            label=labels[i % 4],
            source=ConsensusLabel.Source.UNANIMOUS,
            decided_at=example.created_at,
        )
        rows.append(example)
    return rows


def _tagged(name):
    return set(ExampleTag.objects.filter(name=name).values_list("example__external_id", flat=True))


def test_bulk_tagging_from_the_command_line(project, examples, tmp_path):
    call_command(
        "tag_examples",
        project.slug,
        "sarcasm",
        "--ids",
        f"{examples[0].pk},{examples[1].pk}",
        stdout=io.StringIO(),
    )
    assert _tagged("sarcasm") == {"x0", "x1"}
    call_command(
        "tag_examples", project.slug, "chat", "--filter", "field=channel&value=chat", stdout=io.StringIO()
    )
    assert _tagged("chat") == {"x1", "x3", "x5"}
    ids = tmp_path / "ids.txt"
    ids.write_text("x2\nnope\n")
    with pytest.raises(CommandError, match="line 2: no example of support has the id 'nope'"):
        call_command("tag_examples", project.slug, "hard", "--external-ids-file", str(ids))
    assert _tagged("hard") == set()  # all or nothing
    call_command(
        "tag_examples",
        project.slug,
        "sarcasm",
        "--ids",
        str(examples[0].pk),
        "--remove",
        stdout=io.StringIO(),
    )
    assert _tagged("sarcasm") == {"x1"}


def test_bulk_tagging_over_the_api(project, examples, sme_client, labeler_client):
    url = f"/api/v1/projects/{project.slug}/tags/bulk/"
    body = {"tag": "legal", "example_ids": [examples[2].pk, examples[3].pk]}
    response = sme_client.post(url, body, content_type="application/json")
    assert response.json() == {"tag": "legal", "changed": 2, "unchanged": 0}
    again = sme_client.post(
        url, {"tag": "legal", "filter": {"tag": "legal"}}, content_type="application/json"
    )
    assert again.json()["unchanged"] == 2
    bad = sme_client.post(url, {"tag": "legal", "example_ids": [999999]}, content_type="application/json")
    assert bad.status_code == 400
    assert "999999" in bad.content.decode()
    assert labeler_client.post(url, body, content_type="application/json").status_code == 403


def test_tags_are_agreement_slices_and_release_filters(project, examples, manager):
    ExampleTag.objects.bulk_create(
        [
            ExampleTag(project=project, example=e, name="chat")
            for e in examples
            if e.metadata["channel"] == "chat"
        ]
    )
    result = agreement_compute(project=project, slice_field=TAG_SLICE, n_boot=0)
    (row,) = result["slices"]["values"]
    assert (result["slices"]["field"], row["value"], row["n_items"]) == ("tag", "chat", 3)

    kept = release_build(project=project, user=manager, policy={"include_tags": ["chat"]})
    assert kept.n_items == 3
    dropped = release_build(
        project=project, user=manager, policy={"exclude_tags": "chat", "sources": ["unanimous"]}
    )
    assert dropped.n_items == 3
    with pytest.raises(PolicyError):
        ReleasePolicy.from_dict({"include_tags": ["Not A Tag"]})


def test_the_release_page_filters_by_tags(
    manager_client, project, examples, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from consistency.releases.models import DatasetRelease

    url = reverse("consistency:releases", args=[project.slug])
    assert b'name="exclude_tags"' not in manager_client.get(url).content  # no tags: nothing to offer
    ExampleTag.objects.bulk_create(
        [
            ExampleTag(project=project, example=e, name="chat")
            for e in examples
            if e.metadata["channel"] == "chat"
        ]
        + [ExampleTag(project=project, example=examples[0], name="tricky")]
    )
    page = manager_client.get(url).content.decode()
    assert 'name="include_tags" value="chat"' in page
    assert 'name="exclude_tags" value="tricky"' in page
    form = {"tag": "", "sources": ["unanimous"], "min_agreement": "0", "min_posterior": "0.9",
            "train": "0.8", "dev": "0.1", "test": "0.1", "stratify_field": ""}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(url, {**form, "tag": "no-chat", "exclude_tags": ["chat"]})
    assert response.status_code == 302
    release = DatasetRelease.objects.get(project=project, tag="no-chat")
    assert (release.policy["exclude_tags"], release.policy["include_tags"], release.n_items) == (
        ["chat"],
        [],
        3,
    )
    refused = manager_client.post(url, {**form, "include_tags": ["no-such-tag"]})
    assert refused.status_code == 400
    assert b"no-such-tag" in refused.content
