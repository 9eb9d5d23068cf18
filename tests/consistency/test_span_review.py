"""Reviewing a span case: the SME resolves it to gold spans (ConsensusLabel.spans), "no entities"
([]) included; spans that cross, leave the text or name a label of another project are refused by
field with nothing written; a revision supersedes; the page shows each rater's spans aligned on the
text, starts the form from the majority or from any row, and names a typed line's error by line."""

import uuid

import pytest
from django.urls import reverse

from consistency.review import services as review_services
from consistency.review.models import Resolution, WorkedExample
from core.errors import ApplicationError
from core.models import AuditEntry
from labeling.models import ConsensusLabel, Disagreement
from labeling.services import annotations as labeling
from projects.models import GuidelineDraft
from tests.consistency.span_review_cases import MARKED, TEXT, span_case_make, span_ids, span_project_make
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def span_project(project):
    return span_project_make(project)


@pytest.fixture
def case(span_project):
    return span_case_make(span_project)


def checked_spans(page: str) -> list[str]:
    """The candidate spans checked on a review page, as "start:end:label_id"."""
    parts = page.split('name="span" value="')[1:]
    return [part.split('"', 1)[0] for part in parts if " checked" in part.split(">", 1)[0]]


def resolve(project, sme, case, **arguments):
    return review_services.review_resolve(
        project=project, user=sme, disagreement_id=case.pk, verdict="gold", **arguments
    )


def test_a_span_case_resolves_to_gold_spans_by_name_or_id(span_project, case, sme):
    ids = span_ids(span_project)
    resolution = resolve(
        span_project,
        sme,
        case,
        spans=[
            {"start": 17, "end": 32, "label": "PERSON"},
            {"start": 0, "end": 12, "label": str(ids["PERSON"])},
        ],
        rationale="Full names.",
    )
    gold = [[0, 12, ids["PERSON"]], [17, 32, ids["PERSON"]]]
    assert (resolution.spans, resolution.label_id, resolution.labels) == (gold, None, None)
    consensus = ConsensusLabel.objects.get(example=case.example)
    assert (consensus.source, consensus.spans, consensus.label_id, consensus.labels) == (
        "gold",
        gold,
        None,
        None,
    )
    case.refresh_from_db()
    assert case.status == Disagreement.Status.RESOLVED
    audit = AuditEntry.objects.get(action=AuditEntry.Action.GOLD_SET)
    assert audit.details["spans"] == gold
    assert audit.details["label"] == 'PERSON "Ada Lovelace", PERSON "Charles Babbage"'


def test_no_entities_is_a_gold_answer(span_project, case, sme):
    resolution = resolve(span_project, sme, case, spans=[])
    assert resolution.spans == []
    assert ConsensusLabel.objects.get(example=case.example).spans == []


@pytest.mark.parametrize(
    ("spans", "field", "words"),
    [
        (
            [{"start": 0, "end": 12, "label": "PERSON"}, {"start": 4, "end": 20, "label": "PERSON"}],
            "spans[1]",
            "cross",
        ),
        ([{"start": 36, "end": 99, "label": "PLACE"}], "spans[0].end", "outside the text"),
        ([{"start": 0, "end": 3, "label": "yes"}], "spans[0].label", "not one of this project's labels"),
        ([{"start": 5, "end": 5, "label": "PERSON"}], "spans[0].end", "at or before"),
        ("0 12 PERSON", "spans", "list"),
    ],
)
def test_bad_spans_are_refused_by_field_and_nothing_is_written(
    span_project, other_project, case, sme, spans, field, words
):
    with pytest.raises(ApplicationError) as refused:
        resolve(span_project, sme, case, spans=spans)
    assert field in refused.value.extra
    assert words in refused.value.message
    assert not Resolution.objects.exists()
    assert not ConsensusLabel.objects.filter(example=case.example).exists()
    case.refresh_from_db()
    assert case.status == Disagreement.Status.OPEN


def test_nested_spans_only_where_the_project_lets_them_nest(span_project, case, sme):
    nested = [{"start": 0, "end": 12, "label": "PERSON"}, {"start": 4, "end": 12, "label": "PLACE"}]
    with pytest.raises(ApplicationError) as refused:
        resolve(span_project, sme, case, spans=nested)
    assert "does not let spans nest" in refused.value.message
    span_project.spans_may_nest = True
    span_project.save(update_fields=["spans_may_nest"])
    assert len(resolve(span_project, sme, case, spans=nested).spans) == 2


def test_a_label_or_a_set_is_refused_on_a_span_project_and_spans_elsewhere(span_project, case, sme):
    ids = span_ids(span_project)
    for arguments in ({"label_id": ids["PERSON"]}, {"labels": [ids["PERSON"]]}, {}):
        with pytest.raises(ApplicationError) as refused:
            resolve(span_project, sme, case, **arguments)
        assert "spans" in refused.value.extra
    assert not Resolution.objects.exists()


def test_spans_are_refused_on_a_label_project(project, sme):
    from tests.factories import ExampleFactory

    example = ExampleFactory(project=project)
    case = Disagreement.objects.create(project=project, example=example, reason="split")
    with pytest.raises(ApplicationError) as refused:
        resolve(project, sme, case, spans=[])
    assert "spans" in refused.value.extra


def test_exclusion_and_revision_of_a_span_decision(span_project, case, sme):
    ids = span_ids(span_project)
    first = resolve(span_project, sme, case, spans=[{"start": 0, "end": 12, "label": "PERSON"}])
    revised = review_services.resolution_revise(
        project=span_project,
        user=sme,
        resolution_id=first.pk,
        verdict="gold",
        spans=[[0, 12, ids["PERSON"]], [36, 42, ids["PLACE"]]],
        rationale="London is a place.",
    )
    assert revised.supersedes_id == first.pk
    assert ConsensusLabel.objects.get(example=case.example).spans == [
        [0, 12, ids["PERSON"]],
        [36, 42, ids["PLACE"]],
    ]
    with pytest.raises(ApplicationError):  # a revision is checked like a first decision
        review_services.resolution_revise(
            project=span_project,
            user=sme,
            resolution_id=revised.pk,
            verdict="gold",
            spans=[[0, 50, ids["PERSON"]]],
        )
    excluded = review_services.resolution_revise(
        project=span_project, user=sme, resolution_id=revised.pk, verdict="excluded", rationale="Unclear."
    )
    consensus = ConsensusLabel.objects.get(example=case.example)
    assert (excluded.spans, consensus.source, consensus.spans) == (None, "excluded", None)


def test_a_worked_example_shows_the_text_with_the_gold_spans_marked(span_project, case, sme, sme_client):
    resolution = resolve(
        span_project,
        sme,
        case,
        spans=[{"start": 0, "end": 12, "label": "PERSON"}, {"start": 36, "end": 42, "label": "PLACE"}],
        rationale="Full names and places.",
    )
    worked = review_services.worked_example_add(project=span_project, user=sme, resolution_id=resolution.pk)
    assert worked.text == (
        '- "**Ada Lovelace** `PERSON` met Charles Babbage in **London** `PLACE`"'
        " has **2 entities** as marked, because Full names and places. (example `ner-1`)"
    )
    assert GuidelineDraft.objects.get(project=span_project).body.count("Ada Lovelace") == 1
    # The guideline page renders it: each entity in bold with its label, not offsets.
    page = sme_client.get(reverse("projects:guideline", args=[span_project.slug])).content.decode()
    assert (
        '"<strong>Ada Lovelace</strong> <code>PERSON</code> met Charles Babbage in'
        ' <strong>London</strong> <code>PLACE</code>" has <strong>2 entities</strong>' in page
    )
    # A revision to "no entities" rewrites the line.
    revised = review_services.resolution_revise(
        project=span_project,
        user=sme,
        resolution_id=resolution.pk,
        verdict="gold",
        spans=[],
        rationale="Names only.",
    )
    line = WorkedExample.objects.get(resolution=revised).text
    assert line.startswith(f'- "{TEXT}" has **no entities**')


def test_the_page_aligns_each_raters_spans_and_starts_from_the_majority(span_project, case, sme_client):
    url = reverse("consistency:review_item", args=[span_project.slug, case.pk])
    page = sme_client.get(url).content.decode()
    # One row per rater, the majority and no decision yet, each holding the whole text once.
    rows = page.split('class="span-row ')[1:]
    assert [row.split('"', 1)[0] for row in rows] == ["span-row-rater"] * 3 + ["span-row-majority"]
    for row in rows:
        line = row.split('class="span-line">', 1)[1].split("</span></div>", 1)[0]
        visible = line.replace("</mark>", "")
        while "<mark" in visible:
            head, tail = visible.split("<mark", 1)
            visible = head + tail.split(">", 1)[1]
        assert visible == TEXT
    assert 'data-label="PERSON" title="PERSON 17\u201332">Charles Babbage</mark>' in rows[0]
    assert 'title="PERSON 25\u201332">Babbage</mark>' in rows[1]
    assert 'title="PLACE 36\u201342">London</mark>' in rows[2]
    # The candidates: every span anyone marked, with who marked it; the majority's checked.
    assert page.count('name="span"') == 5
    assert "2 of 3: rater0, rater1" in page
    checked = checked_spans(page)
    assert checked == [f"0:12:{span_ids(span_project)['PERSON']}"]
    # "Start from rater2" checks rater2's spans instead.
    rater2 = case.example.annotations.get(rater__username="rater2")
    page = sme_client.get(url, {"start": f"a{rater2.pk}"}).content.decode()
    checked = checked_spans(page)
    ids = span_ids(span_project)
    assert checked == [f"0:3:{ids['PERSON']}", f"36:42:{ids['PLACE']}"]


def test_the_sme_decides_from_checked_and_typed_spans(span_project, case, sme_client):
    ids = span_ids(span_project)
    response = sme_client.post(
        reverse("consistency:review_resolve", args=[span_project.slug, case.pk]),
        {
            "shown": case.pk,
            "verdict": "gold",
            "span": [f"0:12:{ids['PERSON']}", f"17:32:{ids['PERSON']}"],
            "extra_spans": "36 42 PLACE\n\n0 12 PERSON\n",  # a repeat of a checked span is taken once
            "rationale": "All three.",
        },
    )
    assert response.status_code == 302
    gold = [[0, 12, ids["PERSON"]], [17, 32, ids["PERSON"]], [36, 42, ids["PLACE"]]]
    assert Resolution.objects.get(disagreement=case).spans == gold
    page = sme_client.get(
        reverse("consistency:review_item", args=[span_project.slug, case.pk])
    ).content.decode()
    assert (
        "PERSON &quot;Ada Lovelace&quot;, PERSON &quot;Charles Babbage&quot;, PLACE &quot;London&quot;"
        in page
    )
    assert 'class="span-row span-row-decision"' in page


def test_typed_lines_are_checked_by_line_and_nothing_is_written(span_project, case, sme_client):
    ids = span_ids(span_project)
    url = reverse("consistency:review_resolve", args=[span_project.slug, case.pk])
    base = {"shown": case.pk, "verdict": "gold", "rationale": "kept", "span": [f"0:12:{ids['PERSON']}"]}
    response = sme_client.post(url, {**base, "extra_spans": "36 42 PLACE\nfour 9 PLACE\n3 7"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "Extra spans, line 2: the start &#x27;four&#x27; is not a whole number" in page
    assert "Extra spans, line 3: write start, end and label" in page
    # What the SME entered comes back: the typed lines, the rationale, the checked span.
    assert "36 42 PLACE\nfour 9 PLACE\n3 7</textarea>" in page
    assert f'value="0:12:{ids["PERSON"]}" id="span-0:12:{ids["PERSON"]}" checked' in page
    response = sme_client.post(url, {**base, "extra_spans": "36 42 PLACE\n4 20 PERSON"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "The checked span 0\u201312 PERSON and extra spans line 2 cross" in page
    response = sme_client.post(url, {**base, "extra_spans": "36 50 PLACE\n36 40 ORG"})
    assert "Extra spans line 1, end 50 is outside the text" in response.content.decode()
    response = sme_client.post(url, {**base, "extra_spans": "36 40 ORG"})
    assert "Extra spans line 1, label &#x27;ORG&#x27; is not one of this project" in response.content.decode()
    response = sme_client.post(url, {"shown": case.pk, "verdict": "gold", "rationale": "x"})
    assert response.status_code == 400
    assert "Nothing is marked" in response.content.decode()
    assert not Resolution.objects.exists()
    response = sme_client.post(url, {"shown": case.pk, "no_entities": "1"})
    assert response.status_code == 302
    assert Resolution.objects.get().spans == []


def test_the_queue_counts_raters_and_contested_spans_and_the_resolved_tab_says_the_spans(
    span_project, case, sme, sme_client
):
    agreed = {name: [(0, 3, "PERSON")] for name in ("rater0", "rater1", "rater2")}
    agreed["rater2"] = [(0, 3, "PERSON"), (4, 8, "PLACE")]
    span_case_make(span_project, text="Ada went home", marked=agreed, external_id="ner-2")
    queue = sme_client.get(reverse("consistency:review_queue", args=[span_project.slug])).content.decode()
    assert "3 raters, 5 contested spans</span>: PERSON / PLACE" in queue
    assert "3 raters, 1 contested span</span>" in queue
    resolve(span_project, sme, case, spans=[{"start": 0, "end": 12, "label": "PERSON"}])
    resolved = sme_client.get(
        reverse("consistency:review_queue", args=[span_project.slug]), {"tab": "resolved"}
    ).content.decode()
    assert '<td class="decision">PERSON &quot;Ada Lovelace&quot;</td>' in resolved


def test_a_case_the_raters_submit_and_the_rules_queue_is_resolved_from_the_page(
    span_project, raters, sme_client
):
    """The whole path: three raters submit their spans through labeling, the project's rules
    queue the case, and the SME's decision becomes the consensus."""
    ids = span_ids(span_project)
    example = ExampleFactory(project=span_project, text=TEXT, external_id="ner-rules")
    for rater, marked in zip(raters, MARKED.values(), strict=True):
        assignment = labeling.assignment_next(project=span_project, user=rater)
        labeling.annotation_submit(
            project=span_project,
            user=rater,
            example_id=assignment.example_id,
            spans=[{"start": start, "end": end, "label": name} for start, end, name in marked],
            client_token=uuid.uuid4(),
        )
    case = Disagreement.objects.get(example=example, status=Disagreement.Status.OPEN)
    assert not ConsensusLabel.objects.filter(example=example).exists()
    page = sme_client.get(
        reverse("consistency:review_item", args=[span_project.slug, case.pk])
    ).content.decode()
    assert page.count('class="span-row span-row-rater"') == 3
    response = sme_client.post(
        reverse("consistency:review_resolve", args=[span_project.slug, case.pk]),
        {
            "shown": case.pk,
            "verdict": "gold",
            "span": [f"0:12:{ids['PERSON']}"],
            "extra_spans": "17 32 PERSON",
        },
    )
    assert response.status_code == 302
    consensus = ConsensusLabel.objects.get(example=example)
    assert (consensus.source, consensus.spans) == ("gold", [[0, 12, ids["PERSON"]], [17, 32, ids["PERSON"]]])
    case.refresh_from_db()
    assert case.status == Disagreement.Status.RESOLVED


def test_the_page_revises_a_span_decision_starting_from_it(span_project, case, sme, sme_client):
    ids = span_ids(span_project)
    first = resolve(span_project, sme, case, spans=[{"start": 0, "end": 3, "label": "PERSON"}])
    review_services.worked_example_add(project=span_project, user=sme, resolution_id=first.pk)
    page = sme_client.get(
        reverse("consistency:review_item", args=[span_project.slug, case.pk])
    ).content.decode()
    assert "Revise the decision on example ner-1" in page
    assert checked_spans(page) == [f"0:3:{ids['PERSON']}"]  # the decision, not the majority
    response = sme_client.post(
        reverse("consistency:resolution_revise", args=[span_project.slug, first.pk]),
        {
            "shown": case.pk,
            "verdict": "gold",
            "span": [f"0:12:{ids['PERSON']}"],
            "rationale": "The full name.",
        },
    )
    assert response.status_code == 302
    revised = Resolution.objects.get(supersedes=first)
    assert revised.spans == [[0, 12, ids["PERSON"]]]
    draft = GuidelineDraft.objects.get(project=span_project).body
    assert '- "**Ada Lovelace** `PERSON` met Charles Babbage in London" has **1 entity** as marked' in draft
    assert "**Ada** `PERSON` Lovelace" not in draft
