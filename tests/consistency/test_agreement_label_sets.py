"""A multi-label project through the agreement report: the JSON contract (MASI alpha, per label,
per rater, per slice and version), the dashboard, the API, the `agreement` command, and the other
consistency pages that read annotations."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance

from consistency.agreement.selectors import agreement_arrays
from consistency.agreement.services import agreement_report_compute
from consistency.quality.selectors import SINGLE_LABEL_ONLY
from labeling.models import Annotation, ConsensusLabel, Disagreement
from projects.models import PredictionSet, TaskType
from tests.factories import ExampleFactory, GuidelineVersionFactory, UserFactory

# Per example: each of three raters' label sets, by label name.
SETS = [
    [("billing", "bug"), ("billing",), ("billing", "bug")],
    [("bug",), ("bug",), ("bug", "feature")],
    [("feature",), ("other",), ()],
    [("billing", "feature"), ("billing", "feature"), ("billing", "feature")],
    [("other",), ("other",), ("bug",)],
    [("bug", "other"), ("bug",), ("other",)],
    [("billing",), ("billing",), ("billing",)],
    [(), (), ("feature",)],
]


@pytest.fixture
def multi(project):
    project.task_type = TaskType.MULTI
    project.allow_empty_label_set = True
    project.save(update_fields=["task_type", "allow_empty_label_set"])
    return project


@pytest.fixture
def multi_rated(multi):
    ids = dict(multi.labels.values_list("name", "id"))
    raters = [UserFactory(username=f"rater{i}") for i in range(3)]
    version = GuidelineVersionFactory(project=multi, number=1)
    for index, sets in enumerate(SETS):
        example = ExampleFactory(project=multi, metadata={"channel": ["chat", "email"][index % 2]})
        for rater, names in zip(raters, sets, strict=True):
            Annotation.objects.create(
                example=example,
                rater=rater,
                label=None,
                labels=sorted(ids[name] for name in names),
                guideline_version=version,
            )
        ConsensusLabel.objects.create(
            example=example,
            label=None,
            labels=sorted(ids[name] for name in sets[0]),
            source=ConsensusLabel.Source.MAJORITY,
            agreement=1.0,
            n_raters=3,
            decided_at=timezone.now(),
        )
    return multi


def nltk_alpha() -> float:
    data = [
        (f"r{rater}", f"i{item}", frozenset(names))
        for item, sets in enumerate(SETS)
        for rater, names in enumerate(sets)
    ]
    return AnnotationTask(data=data, distance=lambda a, b: 0.0 if a == b else masi_distance(a, b)).alpha()


def test_arrays_hold_each_annotation_label_set(multi_rated):
    arrays = agreement_arrays(project=multi_rated)
    assert arrays.multi
    assert arrays.label_sets.shape == (24, 4)
    names = arrays.label_names
    got = sorted(tuple(names[j] for j in row.nonzero()[0]) for row in arrays.label_sets)
    assert got == sorted(tuple(sorted(s)) for sets in SETS for s in sets)


def test_report_json_for_a_multi_label_project(multi_rated):
    report = agreement_report_compute(project_id=multi_rated.pk, slice_field="channel")
    result = report.result
    assert result["task_type"] == "multi"
    assert result["distance"] == "masi"
    assert result["krippendorff_alpha"]["value"] == pytest.approx(nltk_alpha(), abs=1e-12)
    assert result["krippendorff_alpha"]["ci95"] is not None
    assert result["fleiss_kappa"]["value"] is None
    assert result["fleiss_kappa"]["reason_code"] == "not_for_label_sets"
    assert "MASI" in result["fleiss_kappa"]["reason"]
    per_label = {row["label"]: row for row in result["per_label"]}
    assert set(per_label) == {"billing", "bug", "feature", "other"}
    assert per_label["billing"]["n_ratings"] == 9
    for row in per_label.values():
        assert set(row["alpha"]) >= {"value", "ci95", "reason", "reason_code"}
        assert set(row["kappa"]) >= {"value", "ci95", "reason", "reason_code"}
    assert sorted(row["rater"] for row in result["per_rater"]) == ["rater0", "rater1", "rater2"]
    assert all(row["mean_masi_agreement"] is not None for row in result["per_rater"])
    assert [row["version"] for row in result["by_guideline_version"]] == [1]
    assert result["by_guideline_version"][0]["krippendorff_alpha"] == result["krippendorff_alpha"]
    slices = {row["value"]: row for row in result["slices"]["values"]}
    assert set(slices) == {"chat", "email"}
    assert slices["chat"]["n_items"] == 4
    assert slices["chat"]["distance"] == "masi"
    assert result["before_after"] == []
    assert {(row["label_a"], row["label_b"]) for row in result["label_confusion"]} >= {("feature", "other")}


def test_a_single_label_report_is_unchanged_in_shape(project):
    raters = [UserFactory(username=f"r{i}") for i in range(2)]
    label = project.labels.first()
    for _ in range(3):
        example = ExampleFactory(project=project)
        for rater in raters:
            Annotation.objects.create(example=example, rater=rater, label=label)
    result = agreement_report_compute(project_id=project.pk).result
    assert result["task_type"] == "single"
    assert "distance" not in result


def test_dashboard_shows_masi_alpha_and_presence_agreement(manager_client, multi_rated):
    agreement_report_compute(project_id=multi_rated.pk)
    response = manager_client.get(reverse("consistency:agreement_dashboard", args=["support"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Krippendorff&#x27;s alpha (MASI distance)" in html
    assert 'id="label-sets-note"' in html
    assert "Mean MASI alpha with others; mean MASI agreement" in html
    assert "alpha (MASI) for each pair of raters" in html
    assert html.count('data-kappa="') == 6  # 3 raters: 3 pairs, both halves of the matrix
    assert html.count("<tr><td>billing</td>") == 1


def test_api_returns_the_multi_label_report(manager_client, multi_rated):
    agreement_report_compute(project_id=multi_rated.pk)
    response = manager_client.get(f"/api/v1/projects/{multi_rated.slug}/agreement/")
    assert response.status_code == 200
    body = response.json()
    assert body["distance"] == "masi"
    assert body["human_level_performance"]["n_gold_examples"] == 0


def test_agreement_command_prints_json_and_a_table(multi_rated):
    out = StringIO()
    call_command("agreement", "support", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["distance"] == "masi"
    assert body["krippendorff_alpha"]["value"] == pytest.approx(nltk_alpha(), abs=1e-12)
    out = StringIO()
    call_command("agreement", "support", stdout=out)
    table = out.getvalue()
    assert "MASI distance" in table
    assert "billing" in table


@pytest.mark.parametrize(
    "name",
    ["consistency:examples", "consistency:quality", "consistency:review_queue", "consistency:releases"],
)
def test_consistency_pages_render_for_a_multi_label_project(manager_client, multi_rated, name):
    response = manager_client.get(reverse(name, args=["support"]))
    assert response.status_code == 200


def test_example_page_and_export_render_for_a_multi_label_project(manager_client, multi_rated):
    example = multi_rated.examples.order_by("id").first()
    response = manager_client.get(reverse("consistency:example", args=["support", example.pk]))
    assert response.status_code == 200
    response = manager_client.get(reverse("consistency:example_export", args=["support"]))
    assert response.status_code == 200


@pytest.fixture
def model(multi_rated):
    return PredictionSet.objects.create(project=multi_rated, model_name="clf", version="1", file_sha256="x")


def test_model_report_says_it_is_single_label_only(manager_client, multi_rated, model):
    response = manager_client.get(
        reverse("consistency:model_report", args=["support", model.pk]), follow=True
    )
    assert response.status_code == 200
    assert SINGLE_LABEL_ONLY in response.content.decode()
    response = manager_client.get(f"/api/v1/projects/support/models/{model.pk}/report/")
    assert response.status_code == 409
    assert response.json()["detail"] == SINGLE_LABEL_ONLY
    with pytest.raises(CommandError, match="single-label projects only"):
        call_command("model_report", "support", "--model", "clf", stdout=StringIO())


def test_label_issues_say_they_are_single_label_only(manager_client, multi_rated):
    response = manager_client.post(reverse("consistency:label_issues_run", args=["support"]), follow=True)
    assert response.status_code == 200
    assert SINGLE_LABEL_ONLY in response.content.decode()
    response = manager_client.post(
        "/api/v1/projects/support/label-issues/", {}, content_type="application/json"
    )
    assert response.status_code == 409
    with pytest.raises(CommandError, match="single-label projects only"):
        call_command("label_issues", "support", stdout=StringIO())
    assert not Disagreement.objects.exists()


def test_example_browser_shows_and_filters_final_label_sets(manager_client, multi_rated):
    feature = multi_rated.labels.get(name="feature")
    response = manager_client.get(reverse("consistency:examples", args=["support"]))
    finals = [final for _, _, final in response.context["rows"]]
    assert sorted(finals) == sorted(
        [
            "billing + bug",
            "bug",
            "feature",
            "billing + feature",
            "other",
            "bug + other",
            "billing",
            "none of these",
        ]
    )
    response = manager_client.get(reverse("consistency:examples", args=["support"]), {"label": feature.pk})
    assert sorted(final for _, _, final in response.context["rows"]) == ["billing + feature", "feature"]
    export = manager_client.get(reverse("consistency:example_export", args=["support"]))
    assert "billing + feature" in b"".join(export.streaming_content).decode()


def test_example_timeline_words_label_sets(manager_client, multi_rated):
    example = multi_rated.examples.order_by("id")[2]  # raters chose feature, other, and nothing
    response = manager_client.get(reverse("consistency:example", args=["support", example.pk]))
    html = response.content.decode()
    assert "labeled: feature" in html
    assert "labeled: none of these" in html
    assert "decided: feature" in html
