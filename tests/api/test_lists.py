"""Filtering, ordering and pagination of the list endpoints: allow-listed only, typed, and a
constant number of queries however many rows a page holds."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import AnnotationFactory, ExampleFactory

from .conftest import token_client

EXAMPLES = "/api/v1/projects/support/examples/"
ANNOTATIONS = "/api/v1/projects/support/annotations/"


@pytest.fixture
def manager_api(manager):
    return token_client(manager)


@pytest.fixture
def labeler_api(labeler):
    return token_client(labeler)


@pytest.mark.parametrize(
    "ordering", ["text", "-text", "project__name", "rater__password", "id,text", "created_at"]
)
def test_unknown_example_ordering_is_a_400(api_data, manager_api, ordering):
    response = manager_api.get(EXAMPLES, {"ordering": ordering})
    assert response.status_code == 400
    assert "ordering" in response.json()


@pytest.mark.parametrize("ordering", ["rater__password", "label__project__slug", "note", "example"])
def test_unknown_annotation_ordering_is_a_400(api_data, manager_api, ordering):
    assert manager_api.get(ANNOTATIONS, {"ordering": ordering}).status_code == 400


def test_examples_order_by_id_both_ways(api_data, manager_api):
    ids = [example.pk for example in api_data.examples]
    assert [item["id"] for item in manager_api.get(EXAMPLES).json()["results"]] == ids
    descending = manager_api.get(EXAMPLES, {"ordering": "-id"}).json()["results"]
    assert [item["id"] for item in descending] == ids[::-1]


def test_example_filters(api_data, manager_api):
    first = api_data.examples[0]
    items = manager_api.get(EXAMPLES, {"external_id": first.external_id}).json()["results"]
    assert [item["id"] for item in items] == [first.pk]
    fresh = ExampleFactory(project=api_data.project, external_id="fresh")
    items = manager_api.get(EXAMPLES, {"has_annotations": "false"}).json()["results"]
    assert [item["id"] for item in items] == [fresh.pk]
    items = manager_api.get(EXAMPLES, {"has_annotations": "true"}).json()["results"]
    assert fresh.pk not in {item["id"] for item in items}
    later = timezone.now() + timezone.timedelta(days=1)
    assert manager_api.get(EXAMPLES, {"created_after": later.isoformat()}).json()["results"] == []
    assert manager_api.get(EXAMPLES, {"created_after": "yesterday"}).status_code == 400


def test_cursor_pagination_walks_every_example_once(api_data, manager_api):
    for n in range(7):
        ExampleFactory(project=api_data.project, external_id=f"more-{n}")
    seen, url, params = [], EXAMPLES, {"page_size": 3, "ordering": "-id"}
    while url:
        body = manager_api.get(url, params).json()
        assert "count" not in body  # no COUNT(*) over millions of rows
        seen += [item["id"] for item in body["results"]]
        url, params = body["next"], None
    expected = sorted(api_data.project.examples.values_list("id", flat=True), reverse=True)
    assert seen == expected


def test_annotation_filters(api_data, manager_api, sme):
    def ids(**params):
        return {item["id"] for item in manager_api.get(ANNOTATIONS, params).json()["results"]}

    everything = ids()
    assert len(everything) == 12
    assert all(
        item["rater"] == "sme" for item in manager_api.get(ANNOTATIONS, {"rater": "sme"}).json()["results"]
    )
    assert len(ids(rater="sme")) == 4
    assert len(ids(label="billing")) == 3
    assert ids(guideline_version=1) == everything
    assert ids(guideline_version=2) == set()
    assert ids(ambiguous="true") == set()
    assert ids(ambiguous="false") == everything
    assert ids(rater="nobody") == set()
    assert manager_api.get(ANNOTATIONS, {"guideline_version": "x"}).status_code == 400


def test_superseded_annotations_are_flagged_and_filterable(api_data, manager_api):
    from django.utils import timezone

    from labeling.models import Annotation

    old = Annotation.objects.filter(example__project=api_data.project).order_by("id").first()
    Annotation.objects.filter(pk=old.pk).update(superseded_at=timezone.now())
    current = {item["id"] for item in manager_api.get(ANNOTATIONS, {"current": "true"}).json()["results"]}
    superseded = manager_api.get(ANNOTATIONS, {"current": "false"}).json()["results"]
    assert old.pk not in current
    assert len(current) == 11
    assert [item["id"] for item in superseded] == [old.pk]
    assert superseded[0]["superseded_at"] is not None


def test_annotations_order_by_creation(api_data, manager_api):
    body = manager_api.get(ANNOTATIONS, {"ordering": "-created_at", "page_size": 5}).json()
    stamps = [item["created_at"] for item in body["results"]]
    assert stamps == sorted(stamps, reverse=True)
    assert body["next"]


def test_the_rater_filter_cannot_show_a_labeler_anyone_elses_annotations(api_data, labeler_api):
    for rater in ("sme", "second", "manager", "outsider"):
        assert labeler_api.get(ANNOTATIONS, {"rater": rater}).json()["results"] == []
    own = labeler_api.get(ANNOTATIONS, {"rater": "labeler"}).json()["results"]
    assert len(own) == 4


def test_list_endpoints_use_a_constant_number_of_queries(api_data, manager_api, manager):
    def count(url):
        with CaptureQueriesContext(connection) as queries:
            assert manager_api.get(url).status_code == 200
        return len(queries)

    manager_api.get("/api/v1/projects/")  # the token's first use records last_used_at
    few = {url: count(url) for url in (EXAMPLES, ANNOTATIONS, "/api/v1/projects/")}
    labels = list(api_data.project.labels.all())
    for n in range(20):
        example = ExampleFactory(project=api_data.project, external_id=f"bulk-{n}")
        AnnotationFactory(example=example, rater=manager, label=labels[n % 4])
    many = {url: count(url) for url in few}
    assert many == few
    # token lookup, membership, page: no query per row
    assert few[ANNOTATIONS] <= 4
