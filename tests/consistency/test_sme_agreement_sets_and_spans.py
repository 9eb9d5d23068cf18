"""Each rater's agreement with the SME on the examples an SME decided, for label sets and spans:
the share of answers equal to the SME's and, per label the SME gave, the share the rater gave
too, with Wilson intervals (the same column as for single labels), counted by hand here."""

import pytest
from statsmodels.stats.proportion import proportion_confint

from consistency.agreement.selectors import agreement_compute
from consistency.agreement.services import agreement_report_compute
from consistency.review import services as review_services
from consistency.review.selectors import gold_labels
from tests.consistency.multi_label_cases import ids, multi_case_make
from tests.consistency.span_review_cases import span_case_make, span_ids, span_project_make

pytestmark = pytest.mark.django_db


def wilson(hits, n):
    return list(proportion_confint(hits, n, alpha=0.05, method="wilson"))


def rows_of(result):
    return {row["rater"]: row["agreement_with_sme_on_disputed"] for row in result["per_rater"]}


def test_label_sets_against_the_smes_set(multi_project, raters, sme):
    """Raters chose {billing, bug}, {bug}, {feature}; the SME decides {billing, bug}."""
    project = multi_project
    multi_case = multi_case_make(project, raters)
    review_services.review_resolve(
        project=project, user=sme, disagreement_id=multi_case.pk, verdict="gold",
        labels=ids(project, "billing", "bug"), rationale="Both.",
    )  # fmt: skip
    rows = rows_of(agreement_compute(project=project, gold=gold_labels(project=project), n_boot=0))
    assert [(rows[r]["value"], rows[r]["n"]) for r in ("rater0", "rater1", "rater2")] == [
        (1.0, 1),
        (0.0, 1),
        (0.0, 1),
    ]
    assert rows["rater0"]["ci95"] == pytest.approx(wilson(1, 1))
    per_label = {r: [(c["label"], c["value"], c["n"]) for c in rows[r]["per_label"]] for r in rows}
    assert per_label["rater1"] == [("billing", 0.0, 1), ("bug", 1.0, 1)]
    assert per_label["rater2"] == [("billing", 0.0, 1), ("bug", 0.0, 1)]
    # The report the dashboard shows reads the same resolutions.
    report = agreement_report_compute(project_id=project.pk)
    assert rows_of(report.result)["rater1"]["per_label"][1]["value"] == 1.0


def test_spans_against_the_smes_spans_and_the_sme_not_scored_on_their_own_call(project, sme):
    """rater0 [Ada Lovelace, Charles Babbage], rater1 [Ada Lovelace, Babbage], rater2 [Ada,
    London]; the SME keeps Ada Lovelace and Charles Babbage as PERSON."""
    span_project = span_project_make(project)
    case = span_case_make(span_project)
    second = span_case_make(span_project, text="Grace Hopper in Arlington", external_id="ner-2", marked={
        "rater0": [(0, 12, "PERSON")], "rater1": [(0, 12, "PERSON"), (16, 25, "PLACE")], "rater2": [],
    })  # fmt: skip
    review_services.review_resolve(
        project=span_project, user=sme, disagreement_id=case.pk, verdict="gold",
        spans=[{"start": 0, "end": 12, "label": "PERSON"}, {"start": 17, "end": 32, "label": "PERSON"}],
    )  # fmt: skip
    review_services.review_resolve(
        project=span_project, user=sme, disagreement_id=second.pk, verdict="gold",
        spans=[{"start": 0, "end": 12, "label": "PERSON"}, {"start": 16, "end": 25, "label": "PLACE"}],
    )  # fmt: skip
    gold = gold_labels(project=span_project)
    ids = span_ids(span_project)
    assert gold[case.example_id] == (((0, 12, ids["PERSON"]), (17, 32, ids["PERSON"])), sme.pk)
    rows = rows_of(agreement_compute(project=span_project, gold=gold, n_boot=0))
    # Whole answers equal to the SME's: rater0 1 of 2, rater1 1 of 2, rater2 0 of 2.
    assert [(rows[r]["value"], rows[r]["n"]) for r in ("rater0", "rater1", "rater2")] == [
        (0.5, 2),
        (0.5, 2),
        (0.0, 2),
    ]
    assert rows["rater0"]["ci95"] == pytest.approx(wilson(1, 2))
    per_label = {r: [(c["label"], c["value"], c["n"]) for c in rows[r]["per_label"]] for r in rows}
    # The SME's spans: 3 PERSON, 1 PLACE. rater1 marked Ada Lovelace twice and Arlington, not
    # Charles Babbage; rater2 none of them exactly.
    assert per_label["rater0"] == [("PERSON", 1.0, 3), ("PLACE", 0.0, 1)]
    assert per_label["rater1"] == [("PERSON", pytest.approx(2 / 3), 3), ("PLACE", 1.0, 1)]
    assert per_label["rater2"] == [("PERSON", 0.0, 3), ("PLACE", 0.0, 1)]
    assert rows["rater1"]["per_label"][0]["ci95"] == pytest.approx(wilson(2, 3))

    # rater0 becomes the SME who decided the second case: their answer there is not scored.
    from consistency.review.models import Resolution

    rater0 = case.example.annotations.get(rater__username="rater0").rater
    Resolution.objects.filter(example=second.example).update(sme=rater0)
    rows = rows_of(agreement_compute(project=span_project, gold=gold_labels(project=span_project), n_boot=0))
    assert (rows["rater0"]["value"], rows["rater0"]["n"]) == (1.0, 1)
    assert (rows["rater1"]["value"], rows["rater1"]["n"]) == (0.5, 2)
