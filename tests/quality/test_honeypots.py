"""Honeypots: gold examples mixed into labelers' queues at the project's rate look like any other
example (same page structure, same API keys), never go to the gold label's author, and a rater's
label on one updates their accuracy on gold (human-level performance) at once."""

import re
import uuid

import pytest
from django.urls import reverse

from consistency.agreement.selectors import hlp_live
from labeling.models import Assignment
from labeling.services import annotations
from projects.models import GoldLabel
from tests.conftest import client_for
from tests.factories import ExampleFactory


@pytest.fixture
def queue(project, make_labelers, monkeypatch):
    """Two examples with the same text and metadata; the second is gold. The honeypot draw always
    falls below the rate, so a honeypot is given whenever one is open."""
    project.honeypot_rate = 0.2
    project.lease_queue_size = 1  # one held example each, so "which one was leased" is one row
    project.save()
    monkeypatch.setattr(annotations._honeypot_draw, "random", lambda: 0.0)
    plain = ExampleFactory(project=project, text="Where is my parcel?", external_id="a")
    gold = ExampleFactory(project=project, text="Where is my parcel?", external_id="b")
    GoldLabel.objects.create(
        project=project,
        example=gold,
        label=project.labels.get(name="other"),
        source=GoldLabel.Source.IMPORTED,
    )
    return plain, gold, make_labelers(2)


def _leased(user):
    return Assignment.objects.get(rater=user, status=Assignment.Status.LEASED).example_id


def _shape(html: str) -> str:
    """The page without what differs between any two examples or users (ids, tokens, names)."""
    return re.sub(r"[A-Za-z0-9_-]{20,}|\d+", "#", html)


def test_a_honeypot_page_and_api_look_like_any_other(project, queue, monkeypatch):
    plain, gold, (first, second) = queue
    page = client_for(first).get(reverse("labeling:label", args=[project.slug]))
    assert _leased(first) == gold.pk  # the honeypot came first, ahead of the older plain example
    monkeypatch.setattr(annotations._honeypot_draw, "random", lambda: 0.99)  # above the rate: no honeypot
    other_page = client_for(second).get(reverse("labeling:label", args=[project.slug]))
    assert _leased(second) == plain.pk
    assert _shape(page.content.decode()) == _shape(other_page.content.decode())
    assert "gold" not in page.content.decode().lower()

    def keys(value):
        if isinstance(value, dict):
            return {key: keys(item) for key, item in value.items()}
        return type(value).__name__

    honeypot = client_for(first).post(f"/api/v1/projects/{project.slug}/assignments/next/").json()
    ordinary = client_for(second).post(f"/api/v1/projects/{project.slug}/assignments/next/").json()
    assert honeypot["example"]["id"] == gold.pk
    assert keys(honeypot) == keys(ordinary)


def test_honeypot_accuracy_updates_and_the_author_never_gets_their_own_gold(project, queue):
    plain, gold, (first, second) = queue
    GoldLabel.objects.filter(example=gold).update(labeled_by=second)
    client_for(second).get(reverse("labeling:label", args=[project.slug]))
    assert _leased(second) == plain.pk  # their own gold label is never a test of them

    client = client_for(first)
    client.get(reverse("labeling:label", args=[project.slug]))
    assert _leased(first) == gold.pk
    before = hlp_live(project=project)
    assert before["overall"]["n"] == 0
    response = client.post(
        reverse("labeling:submit", args=[project.slug, gold.pk]),
        {"label": project.labels.get(name="bug").pk, "client_token": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    after = hlp_live(project=project)
    assert after["overall"]["n"] == 1
    assert after["per_rater"] == [
        {"rater": first.username, "value": 0.0, "ci95": after["per_rater"][0]["ci95"], "n": 1}
    ]


def test_no_honeypot_at_rate_zero(project, queue):
    plain, gold, (first, _) = queue
    project.honeypot_rate = 0.0
    project.save()
    client_for(first).get(reverse("labeling:label", args=[project.slug]))
    assert _leased(first) == plain.pk
