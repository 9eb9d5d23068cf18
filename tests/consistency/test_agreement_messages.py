"""The statistics give numbers and codes; `consistency.agreement.messages` words them, once, for the report's
JSON, the dashboard and the `agreement` command alike."""

import html
import re
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from consistency.agreement import label_sets, messages, spans
from consistency.agreement import statistics as stats
from consistency.agreement.services import agreement_report_compute
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, UserFactory

CODE = re.compile(r"[a-z0-9_]+")


def long_form(matrix):
    item, rater = np.nonzero(matrix >= 0)
    return item, rater, matrix[item, rater]


def skewed_with_an_outlier(n=60):
    """Four raters agree (label 0 on 9 examples in 10, else 1); rater 4 flips every other example."""
    truth = np.where(np.arange(n) % 10 == 0, 1, 0)
    matrix = np.tile(truth[:, None], (1, 5))
    matrix[:, 4] = np.where(np.arange(n) % 2 == 0, 1 - truth, truth)
    return matrix


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


DATA = {
    "empty": (np.array([], int), np.array([], int), np.array([], int), 3),
    "one rater": (np.arange(5), np.zeros(5, int), np.array([0, 1, 2, 1, 0]), 3),
    "no overlap": (np.arange(6), np.arange(6), np.array([0, 1, 2, 1, 0, 1]), 3),
    "single item": (np.zeros(3, int), np.arange(3), np.array([0, 1, 1]), 3),
    "one category": (np.repeat(np.arange(5), 3), np.tile(np.arange(3), 5), np.zeros(15, int), 3),
    "one label scale": (np.repeat(np.arange(4), 2), np.tile([0, 1], 4), np.zeros(8, int), 1),
    "few, wide, unused labels": (*long_form(np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0], [2, 2, 2]])), 4),
    "paradox and outlier": (*long_form(skewed_with_an_outlier()), 2),
}


@pytest.mark.parametrize("case", DATA)
@pytest.mark.parametrize("ordinal", [False, True])
def test_statistics_give_numbers_and_codes_never_sentences(case, ordinal):
    summary = stats.agreement_summary(*DATA[case], ordinal=ordinal, gold={0: 0}, n_boot=50)
    for text in strings_in(summary):
        assert CODE.fullmatch(text), text
    for diagnostic in summary["diagnostics"]:
        assert messages.diagnostic_text(diagnostic).endswith(".")
    for estimate in [summary[key] for key in messages.COEFFICIENT_NAMES] + summary["per_label"]:
        assert (estimate["reason"] is None) == (estimate["value"] is not None)
        assert estimate["reason"] is None or messages.reason_text(estimate["reason"]).endswith(".")


@pytest.mark.parametrize(
    "sets",
    [
        [(0,), (0, 1), (1,), (2,), (0,), ()],  # agreement to compute
        [(0,), (0,), (0,), (0,), (0,), (0,)],  # one label set
        [(0,), (0, 1), (1,), (2,), (0,), (2,)],
    ],
)
def test_label_set_statistics_give_codes_and_every_code_has_a_sentence(sets):
    summary = label_sets.label_set_summary([0, 0, 1, 1, 2, 2], [1, 2, 1, 2, 1, 2], sets, 3, n_boot=50)
    for text in strings_in(summary):
        assert CODE.fullmatch(text), text
    for diagnostic in summary["diagnostics"]:
        assert messages.diagnostic_text(diagnostic).endswith(".")
    estimates = [summary[key] for key in messages.COEFFICIENT_NAMES]
    estimates += [row[key] for row in summary["per_label"] for key in ("alpha", "kappa")]
    for estimate in estimates:
        assert (estimate["reason"] is None) == (estimate["value"] is not None)
        assert estimate["reason"] is None or messages.reason_text(estimate["reason"]).endswith(".")


@pytest.mark.parametrize(
    "marked",
    [[[0, 0, 3, 0], [1, 0, 3, 1], [2, 4, 7, 0], [3, 4, 6, 0]], []],  # spans to compare; no spans at all
)
def test_span_report_gives_codes_and_every_code_has_a_sentence(marked):
    tokens = spans.token_table([0, 1], ["abc def", "abc def"])
    report = spans.span_report(
        [0, 0, 1, 1], [1, 2, 1, 2], np.array(marked).reshape(-1, 4), tokens, 2, n_boot=50
    )
    for text in strings_in(report):
        assert CODE.fullmatch(text), text
    for diagnostic in report["diagnostics"]:
        assert messages.diagnostic_text(diagnostic).endswith(".")
    worded = messages.report_with_messages(
        {**report, "by_guideline_version": [], "before_after": [], "slices": None}
    )
    estimates = [worded[key] for key in messages.COEFFICIENT_NAMES] + list(worded["span_f1"].values())
    estimates += [row[key] for row in worded["per_label"] for key in ("exact", "overlap")]
    for estimate in estimates:
        assert (estimate["reason"] is None) == (estimate["value"] is not None)
        assert estimate["reason"] is None or estimate["reason"].endswith(".")


def test_every_reason_code_has_a_sentence_and_an_unknown_code_is_an_error():
    codes = {
        value
        for module in (stats, label_sets, spans)
        for name, value in vars(module).items()
        if name.startswith("REASON_")
    }
    undefined_side = {stats.REASON_UNDEFINED_BEFORE, stats.REASON_UNDEFINED_AFTER}
    assert codes - undefined_side == set(messages.REASONS)
    with pytest.raises(KeyError):
        messages.reason_text("no_such_reason")
    with pytest.raises(ValueError, match="no wording"):
        messages.diagnostic_text({"code": "no_such_warning"})


def test_version_comparisons_give_codes_and_their_sentences_say_which_side():
    items, raters = np.repeat(np.arange(40), 3), np.tile(np.arange(3), 40)
    rng = np.random.default_rng(9)
    before = rng.integers(0, 3, 120)
    result = stats.version_comparison(
        np.r_[items, items], np.r_[raters, raters], np.r_[before, np.zeros(120, int)],
        np.r_[np.ones(120), 2 * np.ones(120)], 3, before=1, after=2, n_boot=100,
    )  # fmt: skip
    for text in strings_in(result):
        assert CODE.fullmatch(text), text
    kappa = result["coefficients"]["fleiss_kappa"]
    assert (kappa["after"]["reason"], kappa["difference"]["reason"]) == ("one_category", "undefined_after")
    worded = messages.difference_with_reason(kappa)
    assert worded["reason"] == "Undefined after: " + messages.REASONS["one_category"]
    assert worded["reason_code"] == "undefined_after"
    assert messages.verdict_text("fleiss_kappa", {**kappa, "difference": worded}, result) == (
        "Fleiss' kappa: no comparison. Undefined after: Every rating uses the same label, so agreement "
        "expected by chance is total and the chance-corrected coefficient is undefined."
    )


def test_the_wide_interval_warning_names_the_coefficients_properly():
    text = messages.diagnostic_text(
        {"code": "wide_interval", "coefficients": ["fleiss_kappa", "gwet_ac1"], "max_width": 0.4}
    )
    assert text == (
        "The 95% interval is wider than 0.4 for Fleiss' kappa, Gwet's AC1: more overlapping items are "
        "needed before drawing conclusions."
    )


def test_signed_changes_use_a_true_minus_sign():
    assert [messages.signed(v) for v in (0.123, -0.051, 0.0)] == ["+0.12", "\u22120.05", "+0.00"]


@pytest.fixture
def skewed_project(project):
    """The skewed study above with names: four raters agree, dave flips every other example."""
    labels = {label.name: label for label in project.labels.all()}
    raters = [UserFactory(username=name) for name in ("alice", "bob", "carol", "erin", "dave")]
    for row in skewed_with_an_outlier():
        example = ExampleFactory(project=project)
        for rater, code in zip(raters, row, strict=True):
            AnnotationFactory(example=example, rater=rater, label=labels["billing" if code == 0 else "bug"])
    return project


def test_the_json_the_dashboard_and_the_command_say_the_same_warnings_with_names(
    skewed_project, manager_client
):
    result = agreement_report_compute(project_id=skewed_project.pk).result
    by_code = {d["code"]: d for d in result["diagnostics"]}
    assert set(by_code) == {"kappa_paradox", "outlier_rater"}
    paradox, outlier = by_code["kappa_paradox"], by_code["outlier_rater"]
    assert (paradox["label"], outlier["rater"]) == ("billing", "dave")
    assert paradox["message"].startswith('Label "billing" makes up 84% of ratings.')
    assert outlier["message"].startswith(
        "Rater dave gave the label most other raters gave on 50% of 60 examples"
    )
    assert f"allowing for {outlier['n_raters_compared']} raters compared" in outlier["message"]
    # Numbers beside the words, for scripts.
    assert paradox["prevalence"] == pytest.approx(252 / 300)
    assert paradox["kappa"] == result["fleiss_kappa"]["value"]
    assert paradox["percent_agreement"] == result["percent_agreement"]["value"]

    page = html.unescape(
        manager_client.get(reverse("consistency:agreement_dashboard", args=["support"])).content.decode()
    )
    out = StringIO()
    call_command("agreement", "support", stdout=out)
    for diagnostic in (paradox, outlier):
        assert diagnostic["message"] in page
        assert f"! {diagnostic['message']}" in out.getvalue()


def test_a_missing_figure_has_its_reason_in_words_and_as_a_code(project, manager_client):
    rater = UserFactory(username="solo")
    billing = project.labels.get(name="billing")
    for _ in range(3):
        AnnotationFactory(example=ExampleFactory(project=project), rater=rater, label=billing)
    result = agreement_report_compute(project_id=project.pk).result
    kappa = result["fleiss_kappa"]
    assert kappa["reason_code"] == "one_rater"
    assert kappa["reason"] == messages.REASONS["one_rater"]
    assert result["diagnostics"] == [{"code": "one_rater", "message": messages.REASONS["one_rater"]}]
    page = manager_client.get(reverse("consistency:agreement_dashboard", args=["support"])).content.decode()
    shown = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.DOTALL)  # the charts' data aside
    assert "Only one rater has labelled these items" in shown
    assert "one_rater" not in shown


def test_the_before_after_sentence_is_the_same_in_the_json_and_on_the_dashboard(project, manager_client):
    labels = list(project.labels.all())
    raters = [UserFactory(username=f"rater{i}") for i in range(3)]
    versions = [GuidelineVersionFactory(project=project, number=n) for n in (1, 2)]
    examples = [ExampleFactory(project=project) for _ in range(40)]
    for version in versions:
        for index, example in enumerate(examples):
            for r, rater in enumerate(raters):
                split = r == 2 and index % 2 == 0 and version.number == 1
                AnnotationFactory(
                    example=example,
                    rater=rater,
                    label=labels[(index + split) % 4],
                    guideline_version=version,
                    superseded_at=timezone.now() if version.number == 1 else None,
                )
    result = agreement_report_compute(project_id=project.pk).result
    (comparison,) = result["before_after"]
    sentences = [comparison["coefficients"][key]["message"] for key in messages.COEFFICIENT_NAMES]
    assert sentences[0].startswith("Percent agreement rose by +0.33 (95% interval +")
    page = html.unescape(
        manager_client.get(reverse("consistency:agreement_dashboard", args=["support"])).content.decode()
    )
    for sentence in sentences:
        assert sentence in page
    out = StringIO()
    call_command("agreement", "support", stdout=out)
    assert "v1 -> v2 on the same 40 examples (paired bootstrap)" in out.getvalue()
    assert "percent agreement    0.667 -> 1.000, change 0.333 [" in out.getvalue()
    assert out.getvalue().count(": rose") >= 1
