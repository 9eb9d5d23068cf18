"""The review pages: who may see them (SMEs and managers; labelers 403, other projects 404), the
queue's filters and order, resolving from the item page (plain form and htmx), the guideline diff,
the labelers' banner, and the managers' relabel form."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from consistency.review import services as review_services
from consistency.review.models import Resolution
from labeling.models import Annotation, ConsensusLabel, Disagreement
from labeling.services import annotations as labeling
from projects.models import GuidelineDraft
from projects.services.guidelines import guideline_draft_save, guideline_publish
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
        note=f"note by {user.username}",
    )


def disagree(project, raters, names, **metadata):
    example = ExampleFactory(project=project, metadata=metadata or {"channel": "email"})
    for user, name in zip(raters, names, strict=True):
        label(project, user, name)
    return Disagreement.objects.get(example=example, status="open")


@pytest.fixture
def disagreement(project, raters):
    return disagree(project, raters, ["billing", "bug", "feature"])


@pytest.fixture
def resolution(project, disagreement, sme):
    return review_services.review_resolve(
        project=project, user=sme, disagreement_id=disagreement.pk, verdict="gold",
        label_id=project.labels.get(name="billing").pk,
    )  # fmt: skip


def review_urls(project, disagreement_id, resolution_id):
    """Every queue, review and draft URL, as (method, url)."""
    slug = project.slug
    return [
        ("get", reverse("consistency:review_queue", args=[slug])),
        ("get", reverse("consistency:review_item", args=[slug, disagreement_id])),
        ("post", reverse("consistency:review_resolve", args=[slug, disagreement_id])),
        ("post", reverse("consistency:resolution_revise", args=[slug, resolution_id])),
        ("post", reverse("consistency:worked_example_add", args=[slug, resolution_id])),
        ("post", reverse("consistency:relabel_request", args=[slug])),
        ("get", reverse("projects:guideline", args=[slug])),
        ("post", reverse("projects:guideline_publish", args=[slug])),
    ]


def test_labelers_are_refused_every_review_and_draft_url(labeler_client, project, resolution):
    for method, url in review_urls(project, resolution.disagreement_id, resolution.pk):
        response = getattr(labeler_client, method)(url)
        assert response.status_code == 403, (method, url)
    assert (
        "rater0"
        not in labeler_client.get(
            reverse("consistency:review_item", args=[project.slug, resolution.disagreement_id])
        ).content.decode()
    )


def test_other_projects_users_get_404_everywhere(outsider_client, project, resolution):
    for method, url in review_urls(project, resolution.disagreement_id, resolution.pk):
        response = getattr(outsider_client, method)(url)
        assert response.status_code == 404, (method, url)


def test_a_project_cannot_reach_another_projects_disagreement(
    outsider_client, outsider, other_project, resolution
):
    # The outsider is a manager of other_project: ids of `project` do not resolve through it.
    slug = other_project.slug
    assert (
        outsider_client.get(
            reverse("consistency:review_item", args=[slug, resolution.disagreement_id])
        ).status_code
        == 404
    )
    response = outsider_client.post(
        reverse("consistency:resolution_revise", args=[slug, resolution.pk]), {"verdict": "excluded"}
    )
    assert response.status_code == 404
    assert Resolution.objects.count() == 1


def test_queue_lists_most_confused_pairs_first_and_filters(sme_client, project, raters):
    lonely = disagree(project, raters, ["feature", "other", "other"], channel="chat")
    pair = [disagree(project, raters, ["billing", "bug", "bug"]) for _ in range(2)]
    url = reverse("consistency:review_queue", args=[project.slug])
    page = sme_client.get(url).content.decode()
    positions = [page.index(f"/review/{d.pk}/") for d in (*pair, lonely)]
    assert positions == sorted(positions)
    bug, billing = project.labels.get(name="bug"), project.labels.get(name="billing")
    filtered = sme_client.get(url, {"pair": f"{billing.pk}-{bug.pk}"}).content.decode()
    assert f"/review/{lonely.pk}/" not in filtered
    assert f"/review/{pair[0].pk}/" in filtered
    by_channel = sme_client.get(url, {"field": "channel", "value": "chat"}).content.decode()
    assert f"/review/{lonely.pk}/" in by_channel
    assert f"/review/{pair[0].pk}/" not in by_channel
    # An unknown metadata key or lookup string is ignored, not passed to the ORM.
    sneaky = sme_client.get(url, {"field": "channel__contains", "value": "x"})
    assert sneaky.status_code == 200
    assert f"/review/{lonely.pk}/" in sneaky.content.decode()
    partial = sme_client.get(url, {"age": "7"}, HTTP_HX_REQUEST="true").content.decode()
    assert partial.strip().startswith('<section id="queue-items"')
    assert "Nothing to review" in partial


def test_item_shows_text_raters_notes_and_guideline_sections(sme_client, project, manager, disagreement):
    label_ = project.labels.get(name="billing")
    label_.description = "Charges, refunds, invoices."
    label_.save()
    guideline_draft_save(
        project=project, user=manager, body="# G\n\n## Bug\nSomething is broken.\n\n## Other\nRest."
    )
    guideline_publish(project=project, user=manager, changelog="v1")
    page = sme_client.get(
        reverse("consistency:review_item", args=[project.slug, disagreement.pk])
    ).content.decode()
    assert disagreement.example.text in page
    for n in range(3):
        assert f"rater{n}" in page
        assert f"note by rater{n}" in page
    assert "Charges, refunds, invoices." in page
    assert "Something is broken." in page
    assert "Rest." not in page
    assert 'data-shortcut="x"' in page  # the exclude key


def test_resolving_by_plain_form_redirects_to_the_next_case(sme_client, project, raters):
    first = disagree(project, raters, ["billing", "bug", "feature"])
    second = disagree(project, raters, ["billing", "bug", "other"])
    url = reverse("consistency:review_resolve", args=[project.slug, first.pk])
    response = sme_client.post(
        url, {"label": project.labels.get(name="bug").pk, "rationale": "It crashes.", "shown": first.pk}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("consistency:review_item", args=[project.slug, second.pk])
    resolution = Resolution.objects.get(disagreement=first)
    assert (resolution.label.name, resolution.rationale) == ("bug", "It crashes.")


def test_resolving_by_htmx_swaps_in_the_next_case(sme_client, project, raters, manager):
    first = disagree(project, raters, ["billing", "bug", "feature"])
    second = disagree(project, raters, ["billing", "bug", "other"])
    url = reverse("consistency:review_resolve", args=[project.slug, first.pk])
    exclusion = {
        "verdict": "excluded", "rationale": "Both readings hold.", "guideline_gap": "on",
        "shown": first.pk, "confirm": "yes",
    }  # fmt: skip
    response = sme_client.post(url, exclusion, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.strip().startswith('<div id="review-item"')
    assert f'data-disagreement-id="{second.pk}"' in body
    assert response["HX-Push-Url"] == reverse("consistency:review_item", args=[project.slug, second.pk])
    assert "add-last-worked-example" in body
    assert ConsensusLabel.objects.get(example=first.example).source == "excluded"
    # The same case again, from this SME's other tab, then from a second reviewer's stale page:
    # each is told what happened, nothing is saved.
    again = sme_client.post(url, exclusion, HTTP_HX_REQUEST="true")
    assert again.status_code == 409
    assert "You already resolved this case" in again.content.decode()
    other = Client()
    other.force_login(manager)
    stale = other.post(url, exclusion, HTTP_HX_REQUEST="true")
    assert stale.status_code == 409
    assert "Another reviewer resolved this case" in stale.content.decode()
    assert Resolution.objects.count() == 1


def test_adding_the_case_just_resolved_keeps_the_next_case_on_screen(sme_client, project, raters):
    first = disagree(project, raters, ["billing", "bug", "feature"])
    second = disagree(project, raters, ["billing", "bug", "other"])
    billing = project.labels.get(name="billing")
    sme_client.post(
        reverse("consistency:review_resolve", args=[project.slug, first.pk]),
        {"label": billing.pk, "rationale": "Money.", "shown": first.pk},
        HTTP_HX_REQUEST="true",
    )
    resolution = Resolution.objects.get(disagreement=first)
    # The "just resolved" box is on the panel of the second case.
    response = sme_client.post(
        reverse("consistency:worked_example_add", args=[project.slug, resolution.pk]),
        {"shown": second.pk},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert f'data-disagreement-id="{second.pk}"' in body
    assert reverse("consistency:review_resolve", args=[project.slug, second.pk]) in body
    assert reverse("consistency:resolution_revise", args=[project.slug, resolution.pk]) not in body
    assert response["HX-Replace-Url"] == reverse("consistency:review_item", args=[project.slug, second.pk])
    assert f"Example {first.example.external_id} was added to the guideline draft" in body
    assert "add-last-worked-example" not in body


def test_a_form_for_another_case_than_the_one_shown_changes_nothing(sme_client, project, raters, resolution):
    other = disagree(project, raters, ["billing", "bug", "other"])
    bug = project.labels.get(name="bug")
    revise = reverse("consistency:resolution_revise", args=[project.slug, resolution.pk])
    response = sme_client.post(revise, {"label": bug.pk, "shown": other.pk}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    body = response.content.decode()
    assert "Nothing was saved" in body
    # The panel and the address now both name the case the form belonged to.
    assert f'data-disagreement-id="{resolution.disagreement_id}"' in body
    assert response["HX-Replace-Url"] == reverse(
        "consistency:review_item", args=[project.slug, resolution.disagreement_id]
    )
    resolve = reverse("consistency:review_resolve", args=[project.slug, other.pk])
    assert sme_client.post(resolve, {"label": bug.pk}).status_code == 409  # no `shown` at all
    assert Resolution.objects.count() == 1
    assert ConsensusLabel.objects.get(example=resolution.example).label.name == "billing"


def test_excluding_needs_a_rationale_and_a_confirmation_without_javascript(sme_client, project, disagreement):
    url = reverse("consistency:review_resolve", args=[project.slug, disagreement.pk])
    base = {"verdict": "excluded", "shown": disagreement.pk, "guideline_gap": "on"}
    refused = sme_client.post(url, base)
    assert refused.status_code == 400
    assert "write why it is genuinely ambiguous" in refused.content.decode()
    asked = sme_client.post(url, {**base, "rationale": "Both readings hold."})
    page = asked.content.decode()
    assert asked.status_code == 200
    assert 'id="exclude-confirm-form"' in page
    assert 'id="resolve-form"' not in page
    assert "Both readings hold." in page
    assert not Resolution.objects.exists()
    back = sme_client.post(
        url, {**base, "rationale": "Both readings hold.", "confirm": "no"}
    ).content.decode()
    assert 'id="resolve-form"' in back
    assert ">Both readings hold.</textarea>" in back  # what the SME wrote is kept
    assert 'id="id_guideline_gap" value="on" checked' in back
    assert not Resolution.objects.exists()
    done = sme_client.post(url, {**base, "rationale": "Both readings hold.", "confirm": "yes"})
    assert done.status_code == 302
    resolution = Resolution.objects.get()
    assert (resolution.verdict, resolution.rationale, resolution.guideline_gap) == (
        "excluded", "Both readings hold.", True,
    )  # fmt: skip


def test_revising_says_the_worked_example_in_the_draft_follows(sme_client, project, resolution, sme):
    review_services.worked_example_add(project=project, user=sme, resolution_id=resolution.pk)
    response = sme_client.post(
        reverse("consistency:resolution_revise", args=[project.slug, resolution.pk]),
        {"label": project.labels.get(name="bug").pk, "shown": resolution.disagreement_id},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "Its worked example in the guideline draft now says the same." in body
    assert "In the guideline draft as a worked example." in body
    assert "is **bug**" in GuidelineDraft.objects.get(project=project).body


def test_worked_example_from_the_item_page(sme_client, project, resolution):
    url = reverse("consistency:worked_example_add", args=[project.slug, resolution.pk])
    response = sme_client.post(
        url, {"explanation": "a double charge is about money", "shown": resolution.disagreement_id}
    )
    assert response["Location"] == reverse(
        "consistency:review_item", args=[project.slug, resolution.disagreement_id]
    )
    body = GuidelineDraft.objects.get(project=project).body
    assert "## Worked examples" in body
    assert "a double charge is about money" in body


def test_guideline_diff_escapes_and_marks_changes(labeler_client, project, manager):
    guideline_draft_save(project=project, user=manager, body="Label <b>bugs</b> as bug.")
    guideline_publish(project=project, user=manager, changelog="v1")
    guideline_draft_save(project=project, user=manager, body="Label <b>crashes</b> as bug.")
    guideline_publish(project=project, user=manager, changelog="v2")
    page = labeler_client.get(reverse("projects:guideline_diff", args=[project.slug]), {"a": 1, "b": 2})
    html = page.content.decode()
    assert "<del>&lt;b&gt;bugs&lt;/b&gt;</del><ins>&lt;b&gt;crashes&lt;/b&gt;</ins>" in html
    assert "<b>crashes</b>" not in html
    assert (
        labeler_client.get(
            reverse("projects:guideline_diff", args=[project.slug]), {"a": 1, "b": 9}
        ).status_code
        == 404
    )


def test_banner_after_a_new_version_until_labeled_or_dismissed(labeler_client, labeler, project, manager):
    ExampleFactory.create_batch(3, project=project)
    guideline_draft_save(project=project, user=manager, body="v1")
    guideline_publish(project=project, user=manager, changelog="First")
    url = reverse("labeling:label", args=[project.slug])
    assert "guideline-banner" not in labeler_client.get(url).content.decode()  # never labeled yet
    label(project, labeler, "bug")
    guideline_draft_save(project=project, user=manager, body="v2")
    guideline_publish(project=project, user=manager, changelog="Bugs are crashes only")
    page = labeler_client.get(url).content.decode()
    assert "guideline-banner" in page
    assert "Bugs are crashes only" in page
    labeler_client.post(reverse("labeling:guideline_banner_dismiss", args=[project.slug, 2]))
    assert "guideline-banner" not in labeler_client.get(url).content.decode()
    annotation = label(project, labeler, "bug")
    assert annotation.guideline_version.number == 2


def test_manager_relabel_form(manager_client, project, raters, manager, disagreement):
    guideline_draft_save(project=project, user=manager, body="v1")
    guideline_publish(project=project, user=manager, changelog="First")
    response = manager_client.post(
        reverse("consistency:relabel_request", args=[project.slug]), {"scope": "older"}
    )
    assert response.status_code == 302
    assert Annotation.objects.filter(superseded_at__isnull=True).count() == 0


def test_manager_sets_the_review_rules_on_the_settings_page(manager_client, project):
    url = reverse("projects:settings", args=[project.slug])
    assert "Majority threshold" in manager_client.get(url).content.decode()
    data = {
        "name": project.name, "description": "", "overlap": 3, "lease_minutes": 30, "visible_metadata": "",
        "majority_threshold": "0.75", "accept_majority": "on", "extra_raters_on_split": "2",
    }  # fmt: skip
    assert manager_client.post(url, data).status_code == 302
    project.refresh_from_db()
    assert (project.majority_threshold, project.accept_majority, project.extra_raters_on_split) == (
        0.75,
        True,
        2,
    )
    assert manager_client.post(url, {**data, "majority_threshold": "0.5"}).status_code == 400


def test_my_work_locks_labels_of_resolved_examples(client, project, raters, resolution):
    client.force_login(raters[0])
    page = client.get(reverse("labeling:my_work", args=[project.slug])).content.decode()
    assert "Locked" in page
    assert "Edit</a>" not in page
