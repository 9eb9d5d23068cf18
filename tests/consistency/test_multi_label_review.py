"""Reviewing a multi-label case: the SME sees each rater's set, the form starts from the per-label
majority, and the case resolves to a set (ConsensusLabel.labels), revisable, with rationale; a
single label or an unknown one is refused by name."""

import pytest
from django.urls import reverse

from consistency.review import services as review_services
from consistency.review.models import Resolution
from core.errors import ApplicationError
from labeling.models import ConsensusLabel
from tests.consistency.multi_label_cases import ids, multi_case_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(multi_project, raters):
    """Three raters, three different sets: {billing, bug}, {bug}, {feature}: queued."""
    return multi_case_make(multi_project, raters)


def test_the_sme_resolves_a_case_to_a_set_from_the_page(multi_project, case, sme_client):
    project = multi_project
    url = reverse("consistency:review_item", args=[project.slug, case.pk])
    page = sme_client.get(url).content.decode()
    # Each rater's set, by name; the form starts with the per-label majority (bug: 2 of 3).
    assert "billing + bug" in page
    assert page.count('class="rater-answer"') == 3
    bug, feature = ids(project, "bug")[0], ids(project, "feature")[0]
    assert f'value="{bug}" checked' in page
    assert f'value="{feature}" checked' not in page

    response = sme_client.post(
        reverse("consistency:review_resolve", args=[project.slug, case.pk]),
        {"labels": ids(project, "billing", "bug"), "verdict": "gold", "rationale": "Both.", "shown": case.pk},
    )
    assert response.status_code == 302
    resolution = Resolution.objects.get(disagreement=case)
    assert (resolution.label_id, resolution.labels, resolution.rationale) == (
        None,
        ids(project, "billing", "bug"),
        "Both.",
    )
    consensus = ConsensusLabel.objects.get(example=case.example)
    assert (consensus.source, consensus.labels, consensus.label_id) == (
        "gold",
        ids(project, "billing", "bug"),
        None,
    )
    history = sme_client.get(url).content.decode()
    assert "<strong>billing + bug</strong>" in history


def test_nothing_checked_is_refused_and_none_of_these_needs_the_project_to_allow_it(
    multi_project, case, sme_client, sme
):
    project = multi_project
    response = sme_client.post(
        reverse("consistency:review_resolve", args=[project.slug, case.pk]),
        {"verdict": "gold", "shown": case.pk},
    )
    assert response.status_code == 409
    assert "choose the set of labels" in response.content.decode()
    with pytest.raises(ApplicationError) as refused:
        review_services.review_resolve(
            project=project, user=sme, disagreement_id=case.pk, verdict="gold", labels=[]
        )
    assert "none of these" in refused.value.message
    assert not Resolution.objects.exists()
    project.allow_empty_label_set = True
    project.save()
    response = sme_client.post(
        reverse("consistency:review_resolve", args=[project.slug, case.pk]),
        {"none_of_these": "1", "shown": case.pk},
    )
    assert response.status_code == 302
    assert ConsensusLabel.objects.get(example=case.example).labels == []


def test_a_single_label_unknown_label_or_duplicate_is_refused(multi_project, other_project, case, sme):
    project = multi_project
    bad = [
        {"label_id": ids(project, "bug")[0]},
        {"labels": [*ids(project, "bug"), other_project.labels.first().pk]},
        {"labels": [*ids(project, "bug"), *ids(project, "bug")]},
    ]
    for arguments in bad:
        with pytest.raises(ApplicationError):
            review_services.review_resolve(
                project=project, user=sme, disagreement_id=case.pk, verdict="gold", **arguments
            )
    assert not Resolution.objects.exists()
    assert not ConsensusLabel.objects.filter(example=case.example).exists()


def test_a_set_decision_is_revised_to_another_set_and_worked_example_names_the_set(multi_project, case, sme):
    project = multi_project
    first = review_services.review_resolve(
        project=project, user=sme, disagreement_id=case.pk, verdict="gold", labels=ids(project, "bug")
    )
    revised = review_services.resolution_revise(
        project=project,
        user=sme,
        resolution_id=first.pk,
        verdict="gold",
        labels=ids(project, "billing", "bug"),
        rationale="Charged twice is billing too.",
    )
    assert revised.supersedes_id == first.pk
    assert ConsensusLabel.objects.get(example=case.example).labels == ids(project, "billing", "bug")
    worked = review_services.worked_example_add(project=project, user=sme, resolution_id=revised.pk)
    assert "is **billing + bug**, because Charged twice is billing too." in worked.text


def test_example_pages_and_my_work_show_sets(multi_project, case, sme, sme_client, client, raters):
    project = multi_project
    review_services.review_resolve(
        project=project,
        user=sme,
        disagreement_id=case.pk,
        verdict="gold",
        labels=ids(project, "billing", "bug"),
    )
    timeline = sme_client.get(
        reverse("consistency:example", args=[project.slug, case.example_id])
    ).content.decode()
    assert "resolved as billing + bug" in timeline
    assert "feature" in timeline  # the third rater's set
    listing = sme_client.get(reverse("consistency:examples", args=[project.slug])).content.decode()
    assert "billing + bug" in listing
    client.force_login(raters[0])
    mine = client.get(reverse("labeling:my_work", args=[project.slug])).content.decode()
    assert "billing + bug" in mine
    assert "My labels" in mine


def test_the_resolved_tab_says_the_gold_set(multi_project, case, sme, sme_client):
    project = multi_project
    review_services.review_resolve(
        project=project,
        user=sme,
        disagreement_id=case.pk,
        verdict="gold",
        labels=ids(project, "billing", "bug"),
    )
    page = sme_client.get(reverse("consistency:review_queue", args=[project.slug]), {"tab": "resolved"})
    assert '<td class="decision">billing + bug</td>' in page.content.decode()


def test_the_review_api_resolves_a_case_to_a_set_by_label_names(multi_project, case, sme):
    from tests.api.conftest import token_client

    project = multi_project
    api = token_client(sme)
    url = f"/api/v1/projects/{project.slug}/disagreements/{case.pk}/"
    votes = api.get(url).json()["votes"]
    assert sorted(map(tuple, (vote["labels"] for vote in votes))) == [
        ("billing", "bug"),
        ("bug",),
        ("feature",),
    ]
    # One label, an unknown name, two answers at once: refused by field, nothing written.
    for body, field in (
        ({"verdict": "label", "label": "bug"}, "labels"),
        ({"verdict": "label", "labels": ["bug", "nope"]}, "labels"),
        ({"verdict": "label", "labels": ["bug"], "label": "bug"}, "labels"),
        ({"verdict": "label", "labels": ["bug", "bug"]}, "labels"),
        ({"verdict": "exclude", "labels": ["bug"], "rationale": "x"}, "labels"),
    ):
        response = api.post(f"{url}resolve/", body, content_type="application/json")
        assert response.status_code == 400, body
        assert field in response.json(), (body, response.json())
    assert not Resolution.objects.filter(disagreement=case).exists()
    response = api.post(
        f"{url}resolve/",
        {"verdict": "label", "labels": ["bug", "billing"], "rationale": "Both."},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["labels"] == ["billing", "bug"]
    assert response.json()["label"] is None
    consensus = ConsensusLabel.objects.get(example=case.example)
    assert (consensus.source, consensus.labels) == ("gold", ids(project, "billing", "bug"))
