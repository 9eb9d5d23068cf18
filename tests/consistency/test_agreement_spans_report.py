"""A span project through the agreement report: span F1, token-level coefficients and the
boundary-vs-label breakdown in the JSON contract, the dashboard and the `agreement` command."""

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from consistency.agreement import spans
from consistency.agreement.selectors import agreement_arrays
from consistency.agreement.services import agreement_report_compute
from labeling.models import Annotation
from projects.models import TaskType
from tests.factories import ExampleFactory, GuidelineVersionFactory, UserFactory

TEXTS = ["Ada Lovelace met Charles Babbage in London", "Paris is in France", "nothing here", "Alan Turing"]
# Per example and rater: spans as (start, end, label name).
SPANS = [
    [[(0, 12, "billing"), (17, 32, "billing")], [(0, 12, "billing"), (17, 24, "billing")], [(0, 3, "bug")]],
    [[(0, 5, "feature"), (12, 18, "feature")], [(0, 5, "feature")], [(0, 5, "feature"), (12, 18, "other")]],
    [[], [], []],
    [[(0, 11, "billing")], [(0, 11, "billing")], [(0, 11, "bug")]],
]


@pytest.fixture
def span_project(project):
    project.task_type = TaskType.SPANS
    project.save(update_fields=["task_type"])
    ids = dict(project.labels.values_list("name", "id"))
    raters = [UserFactory(username=f"rater{i}") for i in range(3)]
    version = GuidelineVersionFactory(project=project, number=1)
    for index, (text, per_rater) in enumerate(zip(TEXTS, SPANS, strict=True)):
        example = ExampleFactory(
            project=project, text=text, metadata={"channel": ["chat", "email"][index % 2]}
        )
        for rater, marked in zip(raters, per_rater, strict=True):
            Annotation.objects.create(
                example=example,
                rater=rater,
                label=None,
                spans=[[start, end, ids[name]] for start, end, name in marked],
                guideline_version=version,
            )
    return project


def kernel_inputs(project):
    arrays = agreement_arrays(project=project)
    return arrays, (arrays.items, arrays.raters, arrays.spans, arrays.tokens, arrays.n_labels)


def test_arrays_hold_spans_and_tokens(span_project):
    arrays, _ = kernel_inputs(span_project)
    assert arrays.span_task
    assert len(arrays) == 12
    assert len(arrays.spans) == sum(len(marked) for per_rater in SPANS for marked in per_rater)
    assert len(arrays.tokens) == sum(len(spans.tokenize(text)) for text in TEXTS)
    half = arrays.subset(np.arange(12) < 6)
    assert len(half.spans) == sum(len(marked) for per_rater in SPANS[:2] for marked in per_rater)


def test_report_json_for_a_span_project(span_project):
    arrays, inputs = kernel_inputs(span_project)
    expected = spans.span_f1(*inputs[:3], inputs[4])
    result = agreement_report_compute(project_id=span_project.pk, slice_field="channel").result
    assert result["task_type"] == "spans"
    assert result["span_f1"]["exact"]["value"] == pytest.approx(expected["exact"]["value"])
    assert result["span_f1"]["overlap"]["value"] > result["span_f1"]["exact"]["value"]
    assert result["krippendorff_alpha"]["value"] is not None
    assert result["percent_agreement"]["reason_code"] == "not_for_spans"
    assert result["breakdown"]["counts"] == expected["breakdown"]["counts"]
    assert {row["label"] for row in result["per_label"]} == {"billing", "bug", "feature", "other"}
    assert {(p["rater_a"], p["rater_b"]) for p in result["span_pairs"]} == {
        ("rater0", "rater1"), ("rater0", "rater2"), ("rater1", "rater2"),
    }  # fmt: skip
    assert {(row["label_a"], row["label_b"]) for row in result["label_confusion"]} == {
        ("billing", "bug"), ("feature", "other"),
    }  # fmt: skip
    assert [row["version"] for row in result["by_guideline_version"]] == [1]
    assert result["by_guideline_version"][0]["span_f1"] == result["span_f1"]
    assert {row["value"] for row in result["slices"]["values"]} == {"chat", "email"}
    assert all("span_f1" in row for row in result["slices"]["values"])


def test_dashboard_and_command_show_span_agreement(manager_client, span_project):
    agreement_report_compute(project_id=span_project.pk)
    html = manager_client.get(reverse("consistency:agreement_dashboard", args=["support"])).content.decode()
    for table in ("span-f1-table", "span-breakdown-table", "labels-table", "raters-table"):
        assert f'id="{table}"' in html
    assert "Mean span F1 with others (exact)" in html
    assert 'id="kappa-heatmap"' not in html
    out = StringIO()
    call_command("agreement", "support", "--json", stdout=out)
    assert json.loads(out.getvalue())["task_type"] == "spans"
    # The table says span F1, the boundary-vs-label breakdown and F1 per label, not only the
    # token coefficients.
    out = StringIO()
    call_command("agreement", "support", stdout=out)
    result = agreement_report_compute(project_id=span_project.pk).result
    text = out.getvalue()
    exact = result["span_f1"]["exact"]
    low, high = exact["ci95"]
    assert f"span F1 exact          {exact['value']:.3f}  [{low:.3f}, {high:.3f}]" in text
    assert "each span against each other rater's: the same span" in text
    for row in result["per_label"]:
        assert f"  {row['label']:<18} {row['exact']['value']:>9.3f}" in text
