"""The example browser: search (wildcards and regex characters are literal), every filter, sort,
pages (past the end: a clear message), bad parameters (400 naming the field, never a 500), the
CSV export of the filtered list, and who may use it."""

import csv
import io
import uuid

import pytest
from django.urls import reverse

from consistency.releases.services import release_build
from consistency.review import services as review
from labeling.models import ConsensusLabel
from labeling.services import annotations as labeling
from projects.services.guidelines import guideline_draft_save, guideline_publish
from projects.services.tags import example_tag_add
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def label(project, user, name):
    assignment = labeling.assignment_next(project=project, user=user)
    return labeling.annotation_submit(
        project=project,
        user=user,
        example_id=assignment.example_id,
        label_id=project.labels.get(name=name).pk,
        client_token=uuid.uuid4(),
    )


@pytest.fixture
def data(project, manager, sme, raters):
    """Six examples, one per status, plus texts full of wildcard and regex characters."""
    guideline_draft_save(project=project, user=manager, body="# v1")
    guideline_publish(project=project, user=manager, changelog="First")
    make = lambda ext, text, **meta: ExampleFactory(  # noqa: E731
        project=project, external_id=ext, text=text, metadata={"channel": "email", **meta}
    )
    e = {
        "decided": make("D-1", "Refund of 100% please", channel="chat"),
        "queued": make("Q-1", "under_score and a.b*c (x)"),
        "resolved": make("R-1", "The app crashes on pay"),
        "excluded": make("X-1", "Unclear message [1]"),
        "labeling": make("L-1", '=HYPERLINK("evil") refund plan', priority=2),
        "waiting": make("W-1", "plain words only"),
    }
    plans = {
        "D-1": ("billing", "billing", "billing"),
        "Q-1": ("bug", "feature", "other"),
        "R-1": ("bug", "billing", "feature"),
        "X-1": ("bug", "other", "feature"),
    }
    for external_id, names in plans.items():
        for rater, name in zip(raters, names, strict=True):
            example = project.examples.get(external_id=external_id)
            labeling.annotation_submit(
                project=project,
                user=rater,
                example_id=_lease(project, rater, example).example_id,
                label_id=project.labels.get(name=name).pk,
                client_token=uuid.uuid4(),
            )
    labeling.annotation_submit(
        project=project,
        user=raters[0],
        example_id=_lease(project, raters[0], e["labeling"]).example_id,
        label_id=project.labels.get(name="bug").pk,
        client_token=uuid.uuid4(),
    )
    _release_lease(project, raters[1])
    for external_id, verdict, name in (("R-1", "gold", "bug"), ("X-1", "excluded", None)):
        disagreement = project.examples.get(external_id=external_id).disagreements.get()
        review.review_resolve(
            project=project,
            user=sme,
            disagreement_id=disagreement.pk,
            verdict=verdict,
            label_id=project.labels.get(name=name).pk if name else None,
            rationale="Decided.",
        )
    example_tag_add(project=project, user=sme, example_id=e["queued"].pk, name="tricky")
    release_build(project=project, user=manager, tag="r1")
    return e


def _lease(project, rater, example):
    """Hand `example` to `rater`: the next-example order is not the test's business here."""
    from labeling.models import Assignment

    Assignment.objects.filter(project=project, rater=rater, status="leased").update(status="released")
    slot = Assignment.objects.filter(example=example, status__in=["leased", "submitted"]).count() + 1
    return Assignment.objects.create(
        project=project, example=example, rater=rater, slot=slot, expires_at="2999-01-01T00:00:00Z"
    )


def _release_lease(project, rater):
    from labeling.models import Assignment

    Assignment.objects.filter(project=project, rater=rater, status="leased").update(status="released")


def ids(client, project, **params):
    response = client.get(reverse("consistency:examples", args=[project.slug]), params)
    assert response.status_code == 200, response.content.decode()[:500]
    html = response.content.decode()
    return sorted(x for x in ("D-1", "Q-1", "R-1", "X-1", "L-1", "W-1") if f">{x}</a>" in html)


def test_statuses(sme_client, project, data):
    assert ConsensusLabel.objects.filter(example=data["decided"], source="unanimous").exists()
    expected = {"decided": "D-1", "queued": "Q-1", "resolved": "R-1", "excluded": "X-1", "labeling": "L-1"}
    for status, external_id in expected.items():
        assert ids(sme_client, project, status=status) == [external_id], status
    assert ids(sme_client, project, status="waiting") == ["W-1"]
    assert len(ids(sme_client, project)) == 6


def test_search_treats_wildcards_and_regex_characters_literally(sme_client, project, data):
    assert ids(sme_client, project, q="refund") == ["D-1", "L-1"]
    assert ids(sme_client, project, q="R-1") == ["R-1"]  # by id
    exact = {"%": ["D-1"], "_": ["Q-1"], "a.b*c": ["Q-1"], "[1]": ["X-1"], "(x)": ["Q-1"], "100%": ["D-1"]}
    for q, expected in exact.items():
        assert ids(sme_client, project, q=q) == expected, q
    for q in ("%", "_", "*", ".*", "a.b*c", "(x)", "[1]", "\\", "'", '"', "%%%", "under_score"):
        found = ids(sme_client, project, q=q)
        assert "W-1" not in found, q  # nothing acts as "match anything"
        assert len(found) <= 2, q


def test_filters(sme_client, project, data, raters):
    assert ids(sme_client, project, label=project.labels.get(name="billing").pk) == ["D-1"]
    assert ids(sme_client, project, label=project.labels.get(name="bug").pk) == ["R-1"]
    assert ids(sme_client, project, rater="rater0") == ["D-1", "L-1", "Q-1", "R-1", "X-1"]
    assert ids(sme_client, project, rater="rater1") == ["D-1", "Q-1", "R-1", "X-1"]
    assert ids(sme_client, project, guideline=1) == ["D-1", "L-1", "Q-1", "R-1", "X-1"]
    assert ids(sme_client, project, field="channel", value="chat") == ["D-1"]
    assert ids(sme_client, project, field="priority", value="2") == ["L-1"]
    assert ids(sme_client, project, tag="tricky") == ["Q-1"]
    assert ids(sme_client, project, release="r1") == ["D-1", "R-1"]
    assert ids(sme_client, project, agreement_min="0.9") == ["D-1"]
    assert ids(sme_client, project, status="queued", tag="tricky", q="under") == ["Q-1"]
    assert ids(sme_client, project, status="queued", tag="nothing") == []


def test_sort_and_pages(sme_client, project, data, monkeypatch):
    monkeypatch.setattr("consistency.examples.browser.PAGE_SIZE", 4)
    url = reverse("consistency:examples", args=[project.slug])
    first = sme_client.get(url, {"sort": "-external_id"}).content.decode()
    order = [x for x in ("X-1", "W-1", "R-1", "Q-1", "L-1", "D-1") if f">{x}</a>" in first]
    assert order == ["X-1", "W-1", "R-1", "Q-1"]
    assert first.index(">X-1<") < first.index(">W-1<") < first.index(">R-1<")
    assert "sort=-external_id&amp;page=2" in first
    second = sme_client.get(url, {"sort": "-external_id", "page": "2"}).content.decode()
    assert ">L-1</a>" in second
    assert ">D-1</a>" in second
    beyond = sme_client.get(url, {"page": "99"})
    assert beyond.status_code == 200
    assert "There are only 2 pages of examples for this search; showing page 2." in beyond.content.decode()
    word = sme_client.get(url, {"page": "last"})
    assert "&#x27;last&#x27; is not a page number; showing page 1." in word.content.decode()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "bogus"}, "status: choose one of"),
        ({"label": "abc"}, "label: &#x27;abc&#x27; is not a number."),
        ({"label": "999999"}, "label: choose one of this project"),
        ({"agreement_min": "2"}, "agreement min: 2.0 is outside 0 to 1."),
        ({"rater": "nobody"}, "rater: &#x27;nobody&#x27; is not a member"),
        ({"guideline": "7"}, "guideline: there is no version 7."),
        ({"field": "meta__data", "value": "x"}, ""),
        ({"field": "a b;drop", "value": "x"}, "metadata field: give the field"),
        ({"release": "nope"}, "release: there is no ready release"),
        ({"sort": "text__icontains"}, "sort: choose one of"),
        ({"q": "x" * 500}, "search: at most 200 characters."),
    ],
)
def test_bad_parameters_are_named_never_a_500(sme_client, project, data, params, named):
    response = sme_client.get(reverse("consistency:examples", args=[project.slug]), params)
    if named:
        assert response.status_code == 400
        assert named in response.content.decode()
    else:
        assert response.status_code == 200  # a field name with __ is a name, not a lookup path


def test_export_is_the_filtered_list_as_csv(sme_client, project, data):
    response = sme_client.get(reverse("consistency:example_export", args=[project.slug]), {"q": "refund"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["external_id"] for row in rows] == ["D-1", "L-1"]
    assert rows[0]["status"] == "decided"
    assert rows[0]["label"] == "billing"
    assert rows[1]["text"].startswith("'=HYPERLINK")  # a formula is never run by a spreadsheet
    bad = sme_client.get(reverse("consistency:example_export", args=[project.slug]), {"status": "x"})
    assert bad.status_code == 400


def test_who_may_browse(manager_client, labeler_client, outsider_client, client, project, data):
    for name in ("consistency:examples", "consistency:example_export"):
        url = reverse(name, args=[project.slug])
        assert manager_client.get(url).status_code == 200
        assert labeler_client.get(url).status_code == 403
        assert outsider_client.get(url).status_code == 404
        assert client.get(url).status_code == 302
