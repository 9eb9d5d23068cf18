"""The review workflow over the REST API: listing and reading disagreements with their votes and
resolutions, resolving one (gold or excluded, and the 409 when someone was first), and the diff
between two guideline versions."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consistency.review.services import examples_relabel, resolution_revise
from labeling.models import ConsensusLabel, Disagreement
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory

from .conftest import OTHER_MARKER, token_client

DISAGREEMENTS = "/api/v1/projects/support/disagreements/"
DIFF = "/api/v1/projects/support/guideline-versions/diff/"
EXCLUDE = {"verdict": "exclude", "rationale": "Both readings hold."}


def detail_url(disagreement_id: int) -> str:
    return f"{DISAGREEMENTS}{disagreement_id}/"


def resolve_url(disagreement_id: int) -> str:
    return f"{DISAGREEMENTS}{disagreement_id}/resolve/"


@pytest.fixture
def manager_api(manager):
    return token_client(manager)


@pytest.fixture
def sme_api(sme):
    return token_client(sme)


def open_disagreement(project, guideline, raters, names=("bug", "feature", "bug"), external_id="more"):
    """Another queued example, its votes cast by `raters`."""
    labels = {label.name: label for label in project.labels.all()}
    example = ExampleFactory(project=project, external_id=external_id)
    for rater, name in zip(raters, names, strict=True):
        AnnotationFactory(example=example, rater=rater, label=labels[name], guideline_version=guideline)
    disagreement = Disagreement.objects.create(
        project=project,
        example=example,
        reason=Disagreement.Reason.SPLIT,
        label_a=labels[names[0]],
        label_b=labels[names[1]],
        majority_share=0.5,
    )
    disagreement.guideline_versions.set([guideline])
    return disagreement


def test_reviewers_list_the_projects_disagreements_with_votes(api_data, api_disagreements, sme_api):
    body = sme_api.get(DISAGREEMENTS).json()
    assert "count" not in body  # cursor pagination
    [item] = body["results"]
    disagreement = api_disagreements.open
    assert item["id"] == disagreement.pk
    assert item["example"] == {
        "id": disagreement.example_id,
        "external_id": "split-1",
        "text": "Charged twice, app crashed",
    }
    assert (item["status"], item["reason"]) == ("open", "below_threshold")
    assert (item["label_a"], item["label_b"]) == ("billing", "bug")
    assert item["majority_share"] == pytest.approx(2 / 3)
    assert item["guideline_versions"] == [1]
    assert item["resolved_at"] is None
    assert item["resolution"] is None
    assert [(vote["rater"], vote["label"]) for vote in item["votes"]] == [
        ("labeler", "billing"),
        ("sme", "bug"),
        ("second", "billing"),
    ]
    assert item["votes"][0]["ambiguous"] is False
    assert item["votes"][0]["guideline_version"] == 1
    assert {"note", "ambiguous_note", "created_at"} <= set(item["votes"][0])
    assert OTHER_MARKER not in str(body)


def test_disagreement_filters(api_data, api_disagreements, manager_api, labeler, sme, manager):
    second = open_disagreement(api_data.project, api_data.guideline, (labeler, sme, manager))
    manager_api.post(resolve_url(second.pk), EXCLUDE, content_type="application/json")

    def ids(**params):
        response = manager_api.get(DISAGREEMENTS, params)
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["results"]]

    first = api_disagreements.open.pk
    assert ids() == [first, second.pk]
    assert ids(status="open") == [first]
    assert ids(status="resolved") == [second.pk]
    assert ids(reason="split") == [second.pk]
    assert ids(reason="below_threshold") == [first]
    assert ids(label="billing") == [first]
    assert ids(label="bug") == [first, second.pk]  # label_b of the first, label_a of the second
    assert ids(label="feature") == [second.pk]
    assert ids(label="other") == []
    assert ids(label=OTHER_MARKER) == []  # the other project's label name finds nothing here
    assert ids(created_after=(timezone.now() + timezone.timedelta(days=1)).isoformat()) == []
    assert ids(created_after=(timezone.now() - timezone.timedelta(days=1)).isoformat()) == [first, second.pk]
    assert ids(ordering="-id") == [second.pk, first]
    assert ids(ordering="created_at") == [first, second.pk]
    for bad in ({"status": "closed"}, {"reason": "because"}, {"created_after": "yesterday"}):
        assert manager_api.get(DISAGREEMENTS, bad).status_code == 400, bad


@pytest.mark.parametrize(
    "ordering", ["status", "example__text", "resolutions__sme__password", "id,created_at"]
)
def test_unknown_disagreement_ordering_is_a_400(api_data, api_disagreements, manager_api, ordering):
    response = manager_api.get(DISAGREEMENTS, {"ordering": ordering})
    assert response.status_code == 400
    assert "ordering" in response.json()


def test_the_list_uses_a_constant_number_of_queries(
    api_data, api_disagreements, manager_api, manager, sme, labeler
):
    def count():
        with CaptureQueriesContext(connection) as queries:
            response = manager_api.get(DISAGREEMENTS)
        assert response.status_code == 200
        return len(queries), len(response.json()["results"])

    manager_api.get("/api/v1/projects/")  # the token's first use records last_used_at
    few, rows = count()
    assert rows == 1
    for n in range(10):
        disagreement = open_disagreement(
            api_data.project, api_data.guideline, (labeler, sme, manager), external_id=f"bulk-{n}"
        )
        if n % 2:
            manager_api.post(
                resolve_url(disagreement.pk),
                {"verdict": "label", "label": "bug"},
                content_type="application/json",
            )
    many, rows = count()
    assert rows == 11
    assert many == few
    # token, membership, page, guideline versions, votes, resolutions
    assert few <= 6


def test_detail_and_another_projects_id(api_data, api_disagreements, manager_api):
    disagreement = api_disagreements.open
    item = manager_api.get(detail_url(disagreement.pk)).json()
    assert item == manager_api.get(DISAGREEMENTS).json()["results"][0]
    assert manager_api.get(detail_url(api_disagreements.other.pk)).status_code == 404
    assert manager_api.get(detail_url(999999)).status_code == 404


def test_resolving_with_a_gold_label_makes_the_consensus_gold(api_data, api_disagreements, sme_api):
    disagreement = api_disagreements.open
    response = sme_api.post(
        resolve_url(disagreement.pk),
        {"verdict": "label", "label": "billing", "rationale": "A double charge.", "guideline_gap": True},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    resolution = response.json()
    assert resolution["verdict"] == "gold"
    assert resolution["label"] == "billing"
    assert (resolution["rationale"], resolution["guideline_gap"], resolution["sme"]) == (
        "A double charge.",
        True,
        "sme",
    )
    assert (resolution["disagreement"], resolution["example"]) == (disagreement.pk, disagreement.example_id)
    consensus = ConsensusLabel.objects.get(example=disagreement.example)
    assert (consensus.source, consensus.label.name) == ("gold", "billing")

    item = sme_api.get(detail_url(disagreement.pk)).json()
    assert item["status"] == "resolved"
    assert item["resolved_at"] is not None
    assert item["resolution"] == {key: resolution[key] for key in item["resolution"]}
    assert len(item["votes"]) == 3


def test_resolving_twice_is_a_409(api_data, api_disagreements, manager_api, sme_api):
    url = resolve_url(api_disagreements.open.pk)
    assert (
        sme_api.post(url, {"verdict": "label", "label": "bug"}, content_type="application/json").status_code
        == 201
    )
    response = manager_api.post(url, EXCLUDE, content_type="application/json")
    assert response.status_code == 409
    assert "Another reviewer resolved this case" in response.json()["detail"]
    consensus = ConsensusLabel.objects.get(example=api_disagreements.open.example)
    assert (consensus.source, consensus.label.name) == ("gold", "bug")  # the first decision stands


def test_excluding_keeps_the_example_out(api_data, api_disagreements, manager_api):
    response = manager_api.post(
        resolve_url(api_disagreements.open.pk),
        {"verdict": "exclude", "rationale": "Both readings hold."},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert (response.json()["verdict"], response.json()["label"]) == ("excluded", None)
    consensus = ConsensusLabel.objects.get(example=api_disagreements.open.example)
    assert (consensus.source, consensus.label) == ("excluded", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"verdict": "label", "label": "refund"}, "label"),  # no such label
        ({"verdict": "label", "label": "yes"}, "label"),  # the other project's label
        ({"verdict": "label"}, "label"),
        ({"verdict": "exclude", "label": "bug"}, "label"),
        ({"verdict": "gold", "label": "bug"}, "verdict"),
        ({}, "verdict"),
        ({"verdict": "exclude", "rationale": "x" * 5001}, "rationale"),
        ({"verdict": "exclude"}, "rationale"),  # an exclusion says why
        ({"verdict": "exclude", "rationale": "  \n "}, "rationale"),
        ({"verdict": "label", "label": "bug", "colour": "red"}, "colour"),  # unknown fields are refused
    ],
)
def test_invalid_resolutions_are_400_and_change_nothing(
    api_data, api_disagreements, manager_api, body, field
):
    response = manager_api.post(resolve_url(api_disagreements.open.pk), body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    api_disagreements.open.refresh_from_db()
    assert api_disagreements.open.status == "open"
    assert not ConsensusLabel.objects.filter(example=api_disagreements.open.example).exists()


def test_another_projects_disagreement_cannot_be_resolved(api_data, api_disagreements, manager_api):
    response = manager_api.post(
        resolve_url(api_disagreements.other.pk), EXCLUDE, content_type="application/json"
    )
    assert response.status_code == 404
    assert api_disagreements.other.resolutions.count() == 1


def test_who_may_read_and_resolve(api_data, api_disagreements, api_clients):
    clients = api_clients("token")
    disagreement = api_disagreements.open.pk
    for caller, expected in (("anonymous", 401), ("labeler", 403), ("outsider", 404)):
        client = clients[caller]
        assert client.get(DISAGREEMENTS).status_code == expected, caller
        assert client.get(detail_url(disagreement)).status_code == expected, caller
        response = client.post(resolve_url(disagreement), EXCLUDE, content_type="application/json")
        assert response.status_code == expected, caller
    assert not ConsensusLabel.objects.filter(example=api_disagreements.open.example).exists()


def test_session_posts_need_the_csrf_token(api_data, api_disagreements, sme):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(sme)
    url = resolve_url(api_disagreements.open.pk)
    response = browser.post(url, EXCLUDE, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    csrf = browser.get("/account/tokens/").cookies["csrftoken"].value
    response = browser.post(url, EXCLUDE, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201


def test_a_revision_replaces_the_resolution_shown(api_data, api_disagreements, sme_api, manager):
    first = sme_api.post(
        resolve_url(api_disagreements.open.pk),
        {"verdict": "label", "label": "bug"},
        content_type="application/json",
    ).json()
    resolution_revise(
        project=api_data.project,
        user=manager,
        resolution_id=first["id"],
        verdict="excluded",
        rationale="On reflection.",
    )
    shown = sme_api.get(detail_url(api_disagreements.open.pk)).json()["resolution"]
    assert (shown["verdict"], shown["label"], shown["sme"], shown["supersedes"]) == (
        "excluded",
        None,
        "manager",
        first["id"],
    )


def test_a_resolved_disagreement_keeps_its_own_votes_after_relabeling(
    api_data, api_disagreements, sme_api, manager
):
    disagreement = api_disagreements.open
    sme_api.post(
        resolve_url(disagreement.pk), {"verdict": "label", "label": "bug"}, content_type="application/json"
    )
    examples_relabel(project=api_data.project, example_ids=[disagreement.example_id])
    AnnotationFactory(
        example=disagreement.example, rater=manager, label=api_data.project.labels.get(name="other")
    )
    votes = sme_api.get(detail_url(disagreement.pk)).json()["votes"]
    assert [(vote["rater"], vote["label"]) for vote in votes] == [
        ("labeler", "billing"),
        ("sme", "bug"),
        ("second", "billing"),
    ]


def test_guideline_diff(api_data, api_clients):
    GuidelineVersionFactory(
        project=api_data.project,
        number=2,
        changelog="Billing first.",
        body="# Guideline\n\nLabel each message by its <b>billing</b> intent.",
    )
    labeler = api_clients("token")["labeler"]  # every member may compare versions
    response = labeler.get(DIFF, {"a": 1, "b": 2})
    assert response.status_code == 200
    body = response.json()
    assert (body["a"], body["b"]) == (1, 2)
    assert "<del>main</del>" in body["html"]
    assert "<ins>&lt;b&gt;billing&lt;/b&gt;</ins>" in body["html"]  # the guideline's HTML is shown as source
    assert body["stats"] == {"added": 1, "removed": 1}
    assert labeler.get(DIFF, {"a": 2, "b": 1}).json()["stats"] == {"added": 1, "removed": 1}
    assert labeler.get(DIFF, {"a": 1, "b": 99}).status_code == 404
    for bad in ({"a": "x", "b": 2}, {"a": 1}, {"a": "1.5", "b": 2}, {"a": 0, "b": 1}):
        response = labeler.get(DIFF, bad)
        assert response.status_code == 400, bad
    assert api_clients("token")["outsider"].get(DIFF, {"a": 1, "b": 1}).status_code == 404
    assert api_clients("token")["anonymous"].get(DIFF, {"a": 1, "b": 1}).status_code == 401
    # the other project's version 1 is never read through this project
    assert OTHER_MARKER not in labeler.get(DIFF, {"a": 1, "b": 2}).content.decode()
