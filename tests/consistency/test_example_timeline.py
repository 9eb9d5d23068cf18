"""The example page's timeline: a scripted life of one example (label, edit, undo, decision,
relabel under a new guideline, resolve, revise, release) shows every step in order with the right
people; a labeler's view of it holds only their own part, never another rater's label; edits and
undos keep the earlier values in append-only history."""

import uuid

import pytest
from django.db import DatabaseError, IntegrityError, InternalError, connection, transaction
from django.urls import reverse

from consistency.examples.timeline import example_timeline
from consistency.releases.services import release_build
from consistency.review import services as review
from labeling.models import LabelingEvent
from labeling.services import annotations as labeling
from projects.services.guidelines import guideline_draft_save, guideline_publish
from tests.conftest import client_for
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def _id(project, name):
    return project.labels.get(name=name).pk


def label(project, user, name):
    assignment = labeling.assignment_next(project=project, user=user)
    return labeling.annotation_submit(
        project=project,
        user=user,
        example_id=assignment.example_id,
        label_id=_id(project, name),
        client_token=uuid.uuid4(),
    )


def publish(project, manager, body, changelog):
    guideline_draft_save(project=project, user=manager, body=body)
    guideline_publish(project=project, user=manager, changelog=changelog)


@pytest.fixture
def life(project, manager, sme, raters):
    """T-10010's whole life; rater1 labels only 'feature' and 'other', the others 'bug' and 'billing'."""
    r0, r1, r2 = raters
    example = ExampleFactory(project=project, external_id="T-10010", text="The app crashes when I pay")
    publish(project, manager, "# Guideline\nFirst words.", "First version")
    first = label(project, r0, "billing")
    labeling.annotation_update(project=project, user=r0, annotation_id=first.pk, label_id=_id(project, "bug"))
    label(project, r1, "feature")
    labeling.annotation_undo(project=project, user=r1)
    labeling.annotation_submit(
        project=project,
        user=r1,
        example_id=example.pk,
        label_id=_id(project, "other"),
        client_token=uuid.uuid4(),
    )
    label(project, r2, "billing")  # bug / other / billing: queued
    publish(project, manager, "# Guideline\nClearer words.", "Second version")
    review.relabel_request(project=project, user=manager, scope="older")
    for rater, name in zip(raters, ("bug", "other", "bug"), strict=True):
        label(project, rater, name)  # a 2/3 majority, sent for review
    disagreement = example.disagreements.get(status="open")
    resolution = review.review_resolve(
        project=project,
        user=sme,
        disagreement_id=disagreement.pk,
        verdict="gold",
        label_id=_id(project, "billing"),
        rationale="Paying is billing.",
    )
    review.resolution_revise(
        project=project,
        user=sme,
        resolution_id=resolution.pk,
        verdict="gold",
        label_id=_id(project, "bug"),
        rationale="A crash is a bug.",
    )
    release_build(project=project, user=manager, tag="r1")
    return example


def steps(entries, kinds=None):
    return [(e.kind, e.who) for e in entries if kinds is None or e.kind in kinds]


def test_the_whole_life_in_order_with_the_right_people(project, life, manager):
    entries = example_timeline(project=project, example=life)
    assert steps(entries) == [
        ("imported", ""),
        ("guideline", "manager"),
        ("leased", "rater0"),
        ("labeled", "rater0"),
        ("edited", "rater0"),
        ("leased", "rater1"),
        ("labeled", "rater1"),
        ("undone", "rater1"),
        ("labeled", "rater1"),
        ("leased", "rater2"),
        ("labeled", "rater2"),
        ("queued", ""),
        ("guideline", "manager"),
        ("relabel", "manager"),
        ("unqueued", ""),
        ("superseded", "rater0"),
        ("superseded", "rater1"),
        ("superseded", "rater2"),
        ("leased", "rater0"),
        ("labeled", "rater0"),
        ("leased", "rater1"),
        ("labeled", "rater1"),
        ("leased", "rater2"),
        ("labeled", "rater2"),
        ("queued", ""),
        ("resolved", "sme"),
        ("revised", "sme"),
        ("released", "manager"),
    ]
    texts = [e.text for e in entries]
    # Edits and undos keep the earlier values: the first label as given, then the change.
    assert texts[3] == "labeled: billing, under guideline v1"
    assert texts[4] == "edited the label: billing, under guideline v1 → bug, under guideline v1"
    assert texts[6] == "labeled: feature, under guideline v1"
    assert texts[7] == "undid the label feature, under guideline v1"
    assert texts[8] == "labeled: other, under guideline v1"
    assert (
        texts[13]
        == "sent back for relabeling under guideline v2 (every example labeled under an older version)"
    )
    assert texts[11] == "queued for review: votes split evenly (bug vs other)"
    assert texts[19] == "labeled: bug, under guideline v2"
    assert texts[25] == "resolved as billing: Paying is billing."
    assert texts[26] == "revised the decision to bug: A crash is a bug."
    assert texts[27].startswith("included in release r1 as bug (gold,")
    assert [e.at for e in entries] == sorted(e.at for e in entries)


def test_a_labelers_view_holds_only_their_own_part(project, life, raters):
    r1 = raters[1]
    entries = example_timeline(project=project, example=life, viewer_rater=r1)
    assert {e.who for e in entries} <= {"", "manager", "rater1"}
    assert not {"queued", "unqueued", "decided", "resolved", "revised", "released"} & {
        e.kind for e in entries
    }
    assert steps(entries, {"labeled", "undone", "superseded"}) == [
        ("labeled", "rater1"),
        ("undone", "rater1"),
        ("labeled", "rater1"),
        ("superseded", "rater1"),
        ("labeled", "rater1"),
    ]
    page = client_for(r1).get(reverse("consistency:example", args=[project.slug, life.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "The app crashes when I pay" in html
    assert "other" in html
    for word in ("billing", "bug", "rater0", "rater2", "sme", "release"):
        assert word not in html.lower(), word


def test_reviewers_see_everything_on_the_page(project, life, sme_client, manager_client):
    for client in (sme_client, manager_client):
        html = client.get(reverse("consistency:example", args=[project.slug, life.pk])).content.decode()
        assert "revised the decision to bug" in html
        assert "rater0" in html
        assert "included in release r1" in html


def test_a_labeler_cannot_open_an_example_they_never_had(
    project, life, labeler_client, outsider_client, client
):
    url = reverse("consistency:example", args=[project.slug, life.pk])
    assert labeler_client.get(url).status_code == 404
    assert outsider_client.get(url).status_code == 404
    assert client.get(url).status_code == 302
    assert labeler_client.get(reverse("consistency:example", args=[project.slug, 999999])).status_code == 404


def test_labeling_history_cannot_be_changed_in_the_database(project, life):
    event = LabelingEvent.objects.filter(example=life, kind="edited").get()
    refused = (IntegrityError, InternalError, DatabaseError)
    with pytest.raises(refused), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE labeling_labelingevent SET details = '{}' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.details["label_name"] == "billing"


def test_tags_on_the_example_page(project, life, sme_client, labeler_client):
    url = reverse("consistency:example_tags", args=[project.slug, life.pk])
    sme_client.post(url, {"tag": "Tricky"})
    sme_client.post(url, {"tag": "tricky"})  # the same tag once
    bad = sme_client.post(url, {"tag": "no spaces%"}, follow=True).content.decode()
    assert "A tag is 1-50 lowercase letters" in bad
    assert list(life.tags.values_list("name", flat=True)) == ["tricky"]
    assert labeler_client.post(url, {"tag": "mine"}).status_code == 403
    sme_client.post(url, {"remove": "tricky"})
    assert not life.tags.exists()


def test_a_withdrawn_automatic_decision_stays_in_the_timeline(project, manager, raters):
    """Decided unanimously, then sent back for relabeling and decided again the other way: both
    decisions show, the first with the moment it was withdrawn and why."""
    example = ExampleFactory(project=project, external_id="T-20020", text="Charged twice")
    publish(project, manager, "# Guideline\nFirst words.", "First version")
    for rater in raters[: project.overlap]:
        label(project, rater, "billing")
    publish(project, manager, "# Guideline\nDouble charges are bugs.", "Second version")
    review.relabel_request(project=project, user=manager, scope="older")
    for rater in raters[: project.overlap]:
        label(project, rater, "bug")
    entries = example_timeline(project=project, example=example)
    decisions = [(e.kind, e.text) for e in entries if e.kind in ("decided", "undecided")]
    assert decisions == [
        ("decided", f"decided: billing (unanimous, 100% agreement, {project.overlap} raters)"),
        ("undecided", "decision withdrawn: sent back for relabeling"),
        ("decided", f"decided: bug (unanimous, 100% agreement, {project.overlap} raters)"),
    ]


def test_an_undo_that_withdraws_a_decision_is_kept(project, raters):
    example = ExampleFactory(project=project, external_id="T-20021", text="Refund please")
    for rater in raters[: project.overlap]:
        label(project, rater, "billing")
    labeling.annotation_undo(project=project, user=raters[project.overlap - 1])
    kinds = [e.kind for e in example_timeline(project=project, example=example) if "decided" in e.kind]
    assert kinds == ["decided", "undecided"]
    assert LabelingEvent.objects.get(example=example, kind="undecided").details["label_name"] == "billing"
