"""How many queries one labeling step costs, page and API: next and submit each read the
membership (with the guideline version in force) and the labels once, and nothing the answer does
not need.
The limits are the counts reached on PostgreSQL (savepoints included, since tests run inside a
transaction); a change that adds a query fails here. Elsewhere the submit's write takes three
statements instead of one, and a new lease three (lease, event, the example's seat hint) instead
of one."""

import uuid

import pytest
from django.db import connection

from labeling.models import Annotation, Assignment
from tests.api.conftest import token_client
from tests.conftest import client_for
from tests.factories import ExampleFactory, GuidelineVersionFactory

pytestmark = pytest.mark.django_db

SUBMIT_SPLIT = 0 if connection.vendor == "postgresql" else 2  # the submit's write, not on PostgreSQL
LEASE_SPLIT = 0 if connection.vendor == "postgresql" else 2  # a lease's writes
PAGE = "/projects/support/label/"
API = "/api/v1/projects/support"

# The labeling page (htmx partial) when the labeler's queue is full: session, user, membership
# (which also names the guideline version in force), leases, labels, progress, last undoable label.
PAGE_NEXT_HELD = 7
# A background submit that also tops the queue up by one example, k = 3 and no example started:
# 4 (session, user, membership, labels) + 5 (the submit: lock example and assignment, one write
# for annotation, assignment and count, one read for the decision rules; 2 savepoints) + 8 (leases;
# lease transaction: 3 levels of the candidate walk, the first with the transaction's settings,
# seats, lease with its event; 2 savepoints).
PAGE_SUBMIT = 17 + SUBMIT_SPLIT + LEASE_SPLIT
API_NEXT_HELD = 3  # token, membership, lease
# ... and the lease transaction (savepoint, 3 levels of the candidate walk, the first with the
# transaction's settings, seats, lease with its event, savepoint), and the guideline version in
# force, read once per process.
API_NEXT_CLAIM = 11 + LEASE_SPLIT
# token, membership, the assignment with the labels, the submit transaction (5, savepoints included)
API_SUBMIT = 8 + SUBMIT_SPLIT
# A submit that brings the next lease: the submit, then next's claim without a second token and
# membership read, nor the guideline version (read once per process: API_NEXT_CLAIM counts it).
API_SUBMIT_WITH_NEXT = API_SUBMIT + API_NEXT_CLAIM - 3


@pytest.fixture
def work(project, labeler):
    GuidelineVersionFactory(project=project, number=1)
    for n in range(8):
        ExampleFactory(project=project, text=f"text {n}", metadata={"channel": "email"})
    return project


def first_lease(user):
    return Assignment.objects.filter(rater=user, status="leased").order_by("expires_at", "id").first()


def test_queries_per_next_and_submit_on_the_page(work, labeler, django_assert_max_num_queries):
    client = client_for(labeler)
    assert client.get(PAGE).status_code == 200  # fills the queue
    assert Assignment.objects.filter(rater=labeler, status="leased").count() == work.lease_queue_size
    with django_assert_max_num_queries(PAGE_NEXT_HELD):
        assert client.get(PAGE, HTTP_HX_REQUEST="true").status_code == 200
    lease = first_lease(labeler)
    body = {"label": work.labels.get(name="bug").pk, "client_token": str(uuid.uuid4())}
    url = f"{PAGE}{lease.example_id}/submit/"
    with django_assert_max_num_queries(PAGE_SUBMIT):
        response = client.post(url, body, HTTP_X_CONCORD_BACKGROUND="1")
    assert response.status_code == 200
    assert Annotation.objects.filter(rater=labeler).count() == 1
    # The answer holds the queue again, topped up: the next example and the one after.
    assert Assignment.objects.filter(rater=labeler, status="leased").count() == work.lease_queue_size
    assert response.json()["items"].count('class="lease"') == work.lease_queue_size


def test_queries_per_next_and_submit_through_the_api(work, labeler, django_assert_max_num_queries):
    api = token_client(labeler)
    api.post(f"{API}/annotations/", {}, content_type="application/json")  # stamps the token's last use
    with django_assert_max_num_queries(API_NEXT_CLAIM):
        lease = api.post(f"{API}/assignments/next/", content_type="application/json")
    assert lease.status_code == 200
    with django_assert_max_num_queries(API_NEXT_HELD):
        assert api.post(f"{API}/assignments/next/", content_type="application/json").json() == lease.json()
    body = {"assignment": lease.json()["id"], "label": "bug", "client_token": str(uuid.uuid4())}
    with django_assert_max_num_queries(API_SUBMIT):
        saved = api.post(f"{API}/annotations/", body, content_type="application/json")
    assert saved.status_code == 201
    assert saved.json()["example"] == lease.json()["example"]["id"]
    assert saved.json()["guideline_version"] == 1
    # The same with the next lease in the answer: one request, the two steps' queries but for a
    # second token and membership read.
    following = api.post(f"{API}/assignments/next/", content_type="application/json").json()
    body = {"assignment": following["id"], "label": "bug", "client_token": str(uuid.uuid4()), "next": True}
    with django_assert_max_num_queries(API_SUBMIT_WITH_NEXT):
        saved = api.post(f"{API}/annotations/", body, content_type="application/json")
    assert saved.status_code == 201
    labeled = (lease.json()["example"]["id"], following["example"]["id"])
    assert saved.json()["next"]["example"]["id"] not in labeled


@pytest.mark.postgres
def test_the_lease_transaction_settings_travel_with_the_candidate_walk(work, labeler):
    """On PostgreSQL the lease transaction's settings (no WAL flush wait, no JIT, the prepared
    statement's generic plan) are sent in the candidate walk's round trip, ahead of it, not as a
    statement of their own; they hold for the rest of the transaction (here: the test's)."""
    from django.test.utils import CaptureQueriesContext

    from labeling.services.annotations import LEASE_SETTINGS

    api = token_client(labeler)
    with CaptureQueriesContext(connection) as queries:
        assert api.post(f"{API}/assignments/next/", content_type="application/json").status_code == 200
    texts = [query["sql"] for query in queries.captured_queries]
    with_settings = [text for text in texts if text.startswith(LEASE_SETTINGS)]
    assert len(with_settings) == 1
    assert with_settings[0][len(LEASE_SETTINGS) :].startswith(("EXECUTE", "SELECT"))  # the walk
    assert not [text for text in texts if text.startswith("SET") and text not in with_settings]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_generic_plan"
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


@pytest.mark.postgres
def test_a_submit_that_queues_a_case_writes_it_with_its_versions_and_notice_in_one_statement(
    work, raters, sme, django_assert_max_num_queries
):
    """The third label of a split example queues it: the case, its guideline version and the SME's
    notice are one statement on top of the submit's own."""
    from core.models import Notice
    from labeling.models import Disagreement

    example = work.examples.order_by("pk").first()
    for n, rater in enumerate(raters):
        api = token_client(rater)
        api.post(f"{API}/annotations/", {}, content_type="application/json")  # stamps the token
        lease = Assignment.objects.create(
            project=work, example=example, rater=rater, status="leased", slot=n + 1,
            expires_at=example.created_at.replace(year=2100),
        )  # fmt: skip
        label = ["bug", "billing", "feature"][n]
        body = {"assignment": lease.pk, "label": label, "client_token": str(uuid.uuid4())}
        if n < 2:
            assert api.post(f"{API}/annotations/", body, content_type="application/json").status_code == 201
            continue
        with django_assert_max_num_queries(API_SUBMIT + 1):
            assert api.post(f"{API}/annotations/", body, content_type="application/json").status_code == 201
    case = Disagreement.objects.get(example=example, status="open")
    assert case.reason == "split"
    assert [v.number for v in case.guideline_versions.all()] == [1]
    assert Notice.objects.filter(user=sme, kind="queued", read_at__isnull=True).count() == 1
