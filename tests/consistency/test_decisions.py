"""Deciding many examples at once (labeling.services.decisions): the same outcome as labeling's
one-example path, and re-deciding in a background job when the review rules or the overlap change,
never touching what an SME decided."""

import random

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from consistency.review.models import Resolution
from consistency.review.services import review_resolve
from labeling.models import Annotation, ConsensusLabel, Disagreement
from labeling.services import decisions as decision_services
from labeling.services.decisions import disagreement_detect, examples_decide
from projects.models import Example, ImportBatch, Role
from projects.services.projects import project_update
from tests.factories import (
    AnnotationFactory,
    ExampleFactory,
    GuidelineVersionFactory,
    MembershipFactory,
    UserFactory,
)


def _state(project):
    """Everything the rules write, in comparable form."""
    consensus = sorted(
        (example_id, label_id, source, None if agreement is None else round(agreement, 9), n_raters)
        for example_id, label_id, source, agreement, n_raters in ConsensusLabel.objects.filter(
            example__project=project
        ).values_list("example_id", "label_id", "source", "agreement", "n_raters")
    )
    disagreements = sorted(
        (
            d.example_id,
            d.reason,
            d.label_a_id,
            d.label_b_id,
            None if d.majority_share is None else round(d.majority_share, 9),
            tuple(sorted(d.guideline_versions.values_list("pk", flat=True))),
        )
        for d in Disagreement.objects.filter(project=project, status="open")
    )
    extra = sorted(project.examples.values_list("pk", "extra_raters"))
    return consensus, disagreements, extra


def _random_project(project, rng: random.Random, n_examples: int = 120):
    raters = [UserFactory(username=f"r{n}") for n in range(7)]
    sme = UserFactory(username="the-sme")
    MembershipFactory(user=sme, project=project, role=Role.SME)
    versions = [GuidelineVersionFactory(project=project, number=n) for n in (1, 2)]
    labels = list(project.labels.all())[:3]
    for n in range(n_examples):
        example = ExampleFactory(project=project, external_id=f"e{n}")
        k = rng.choice([0, 1, 2, 3, 3, 3, 4, 5])
        for rater in rng.sample(raters, k):
            AnnotationFactory(
                example=example,
                rater=rater,
                label=rng.choice(labels[: rng.choice([1, 2, 3])]),
                ambiguous=rng.random() < 0.05,
                guideline_version=rng.choice([None, *versions]),
            )
        Example.objects.filter(pk=example.pk).update(
            annotation_count=k, extra_raters=rng.choice([0, 0, 0, 1, 2])
        )
    return sme


RULES = [
    {"overlap": 3, "majority_threshold": 0.66, "accept_majority": False, "extra_raters_on_split": 0},
    {"overlap": 3, "majority_threshold": 0.66, "accept_majority": True, "extra_raters_on_split": 2},
    {"overlap": 2, "majority_threshold": 0.75, "accept_majority": True, "extra_raters_on_split": 1},
    {"overlap": 4, "majority_threshold": 0.51, "accept_majority": False, "extra_raters_on_split": 0},
    {"overlap": 1, "majority_threshold": 1.0, "accept_majority": True, "extra_raters_on_split": 3},
]


def test_the_set_based_decisions_equal_labelings_one_example_path(project):
    rng = random.Random(2024)
    sme = _random_project(project, rng)
    ids = list(project.examples.order_by("pk").values_list("pk", flat=True))
    for rules in RULES:
        for name, value in rules.items():
            setattr(project, name, value)
        project.save()
        before = _state(project)
        savepoint = transaction.savepoint()
        for example in project.examples.order_by("pk"):
            disagreement_detect(project=project, example=example)
        one_by_one = _state(project)
        transaction.savepoint_rollback(savepoint)
        assert _state(project) == before
        counts = examples_decide(project=project, example_ids=ids)
        assert _state(project) == one_by_one, rules
        assert counts.examples + counts.kept == len(ids)
        # Leave an SME decision or two for the next rules to respect ...
        open_ids = list(project.disagreements.filter(status="open").values_list("pk", flat=True))[:2]
        for disagreement_id in open_ids:
            review_resolve(
                project=project,
                user=sme,
                disagreement_id=disagreement_id,
                verdict="excluded",
                rationale="Both hold.",
            )
        # ... and change some labels and guideline versions under the stored decisions.
        _relabel_some(project, rng)
    assert ConsensusLabel.objects.filter(example__project=project, source="excluded").exists()


def _relabel_some(project, rng):
    labels = list(project.labels.all())[:3]
    versions = [None, *project.guideline_versions.all()]
    annotations = list(Annotation.objects.filter(example__project=project).order_by("pk"))
    for annotation in rng.sample(annotations, 25):
        annotation.label = rng.choice(labels)
        annotation.guideline_version = rng.choice(versions)
        annotation.save()


def _example_with_votes(project, external_id, votes, raters, version=None):
    example = ExampleFactory(project=project, external_id=external_id)
    labels = {label.name: label for label in project.labels.all()}
    for rater, name in zip(raters, votes, strict=False):
        AnnotationFactory(example=example, rater=rater, label=labels[name], guideline_version=version)
    Example.objects.filter(pk=example.pk).update(annotation_count=len(votes))
    return example


@pytest.fixture
def decided_project(project, sme, make_labelers):
    """Four examples decided by the rules (overlap 3, majorities queued) and two by an SME."""
    raters = make_labelers(3)
    examples = {
        "unanimous": _example_with_votes(project, "unanimous", ["bug", "bug", "bug"], raters),
        "majority": _example_with_votes(project, "majority", ["bug", "bug", "billing"], raters),
        "split": _example_with_votes(project, "split", ["bug", "billing", "other"], raters),
        "gold": _example_with_votes(project, "gold", ["bug", "bug", "billing"], raters),
        "excluded": _example_with_votes(project, "excluded", ["other", "other", "feature"], raters),
    }
    examples_decide(project=project, example_ids=[e.pk for e in examples.values()])
    billing = project.labels.get(name="billing")
    review_resolve(
        project=project,
        user=sme,
        disagreement_id=Disagreement.objects.get(example=examples["gold"]).pk,
        verdict="gold",
        label_id=billing.pk,
        rationale="A double charge is billing.",
    )
    review_resolve(
        project=project,
        user=sme,
        disagreement_id=Disagreement.objects.get(example=examples["excluded"]).pk,
        verdict="excluded",
        rationale="Genuinely ambiguous.",
    )
    return examples


def _decision(example):
    consensus = ConsensusLabel.objects.filter(example=example).first()
    disagreement = Disagreement.objects.filter(example=example, status="open").first()
    return (
        (consensus.source, consensus.label.name if consensus.label else None) if consensus else None,
        disagreement.reason if disagreement else None,
    )


def test_changing_the_rules_re_decides_in_a_background_job_without_touching_resolutions(
    project, manager, decided_project, django_capture_on_commit_callbacks
):
    examples = decided_project
    sme_rows = {
        name: ConsensusLabel.objects.values_list("pk", "source", "label_id", "decided_at").get(
            example=examples[name]
        )
        for name in ("gold", "excluded")
    }
    resolutions = list(Resolution.objects.values_list("pk", "verdict", "label_id", "rationale"))
    assert _decision(examples["majority"]) == (None, "majority_review")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        project_update(project=project, user=manager, accept_majority=True)
    assert len(callbacks) == 1  # the job is queued once the settings are committed

    job = ImportBatch.objects.get(kind=ImportBatch.Kind.DECISIONS)
    assert (job.status, job.created_by, job.percent) == ("succeeded", manager, 100)
    assert job.summary["decisions"]["kept"] == 2
    assert job.summary["decisions"]["majority"] == 1
    assert _decision(examples["majority"]) == (("majority", "bug"), None)
    assert _decision(examples["unanimous"]) == (("unanimous", "bug"), None)
    assert _decision(examples["split"]) == (None, "split")
    for name, row in sme_rows.items():
        assert (
            ConsensusLabel.objects.values_list("pk", "source", "label_id", "decided_at").get(
                example=examples[name]
            )
            == row
        )
    assert list(Resolution.objects.values_list("pk", "verdict", "label_id", "rationale")) == resolutions
    assert not Disagreement.objects.filter(
        example__in=[examples["gold"], examples["excluded"]], status="open"
    )

    # Raising the overlap leaves every rule-made decision waiting for a fourth rater.
    with django_capture_on_commit_callbacks(execute=True):
        project_update(project=project, user=manager, overlap=4)
    assert _decision(examples["majority"]) == (None, None)
    assert _decision(examples["unanimous"]) == (None, None)
    assert _decision(examples["split"]) == (None, None)
    assert ConsensusLabel.objects.get(example=examples["gold"]).source == "gold"
    assert ConsensusLabel.objects.get(example=examples["excluded"]).source == "excluded"

    # And back: the rules decide them again.
    with django_capture_on_commit_callbacks(execute=True):
        project_update(project=project, user=manager, overlap=3, accept_majority=False)
    assert _decision(examples["majority"]) == (None, "majority_review")
    assert _decision(examples["unanimous"]) == (("unanimous", "bug"), None)


def test_other_settings_start_no_job_and_nor_does_a_project_without_annotations(
    project, manager, other_project, django_capture_on_commit_callbacks
):
    ExampleFactory(project=project)
    with django_capture_on_commit_callbacks(execute=True):
        project_update(project=project, user=manager, description="New words", lease_minutes=10)
        project_update(project=project, user=manager, accept_majority=True)  # nothing is annotated
    assert not ImportBatch.objects.exists()


def test_a_job_still_queued_is_reused_it_reads_the_newest_rules(
    project, manager, decided_project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        project_update(project=project, user=manager, accept_majority=True)
        project_update(project=project, user=manager, majority_threshold=0.9)
    job = ImportBatch.objects.get(kind=ImportBatch.Kind.DECISIONS)
    assert job.status == "queued"
    decision_services.decisions_refresh_run(batch_id=job.pk)
    # At 0.9 a 2-of-3 majority no longer counts: it is queued below the threshold.
    assert _decision(decided_project["majority"]) == (None, "below_threshold")


def test_the_job_reports_progress_chunk_by_chunk_and_is_not_run_twice(
    project, manager, make_labelers, monkeypatch, django_capture_on_commit_callbacks
):
    raters = make_labelers(3)
    for n in range(7):
        _example_with_votes(project, f"x{n}", ["bug", "bug", "bug"], raters)
    monkeypatch.setattr(decision_services, "CHUNK", 2)
    seen = []
    original = decision_services._decide_chunk

    def spy(project, ids):
        seen.append(ImportBatch.objects.values_list("bytes_read", "bytes_total").get())
        return original(project, ids)

    monkeypatch.setattr(decision_services, "_decide_chunk", spy)
    with django_capture_on_commit_callbacks(execute=True):
        project_update(project=project, user=manager, accept_majority=True)
    assert seen == [(0, 7), (2, 7), (4, 7), (6, 7)]
    job = ImportBatch.objects.get()
    assert (job.status, job.rows_read, job.summary["decisions"]["unanimous"]) == ("succeeded", 7, 7)
    again = decision_services.decisions_refresh_run(batch_id=job.pk)
    assert again.finished_at == job.finished_at  # a redelivered task does nothing


def test_a_crash_fails_the_job_with_its_kind_and_no_percentage(
    project, manager, decided_project, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(project, ids):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(decision_services, "_decide_chunk", broken)
    with django_capture_on_commit_callbacks(execute=True):
        project_update(project=project, user=manager, accept_majority=True)
    job = ImportBatch.objects.get()
    assert job.status == "failed"
    assert job.percent is None
    assert "unexpected error (RuntimeError)" in job.errors[0]["message"]
    assert "disk on fire" not in job.errors[0]["message"]


def test_the_settings_page_shows_the_re_deciding_job(
    manager_client, project, decided_project, django_capture_on_commit_callbacks
):
    data = {
        "name": project.name,
        "description": "",
        "overlap": 3,
        "lease_minutes": 30,
        "majority_threshold": 0.66,
        "accept_majority": "on",
        "extra_raters_on_split": 0,
        "visible_metadata": "",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(reverse("projects:settings", args=[project.slug]), data)
    job = ImportBatch.objects.get(kind=ImportBatch.Kind.DECISIONS)
    assert response.status_code == 302
    assert response.url == reverse("projects:import_status", args=[project.slug, job.pk])
    page = manager_client.get(response.url).content.decode()
    assert "the examples are being re-decided" in page
    assert "Re-decided 3 examples under the new rules" in page
    assert "2 decided by an SME were left as they were" in page
    assert "1 majority label accepted" in page

    # Saving again without changing a rule just saves.
    response = manager_client.post(reverse("projects:settings", args=[project.slug]), data)
    assert response.url == reverse("projects:settings", args=[project.slug])
    assert ImportBatch.objects.count() == 1


def test_disagreements_detect_all_queues_and_accepts_like_labeling(project, make_labelers):
    from labeling.services.decisions import disagreements_detect_all

    raters = make_labelers(3)
    _example_with_votes(project, "u", ["bug", "bug", "bug"], raters)
    _example_with_votes(project, "s", ["bug", "billing", "other"], raters)
    assert disagreements_detect_all(project=project) == 1
    assert ConsensusLabel.objects.get().example.external_id == "u"
    assert Annotation.objects.count() == 6
    assert timezone.now() >= ConsensusLabel.objects.get().decided_at


@pytest.mark.django_db
def test_both_paths_store_the_decision_time_as_the_orm_does(project, make_labelers):
    """The one-example path and the set-based path write a consensus row with plain SQL: its
    decided_at is stored in the ORM's form (on SQLite a naive UTC text, not an offset one)."""
    from django.db import connection

    raters = make_labelers(3)
    one = _example_with_votes(project, "one", ["bug", "bug", "bug"], raters)
    many = _example_with_votes(project, "many", ["bug", "bug", "bug"], raters)
    with transaction.atomic():
        disagreement_detect(project=project, example=Example.objects.select_for_update().get(pk=one.pk))
    examples_decide(project=project, example_ids=[many.pk])
    orm = ConsensusLabel.objects.get(example=one)
    orm.pk = None
    orm.example = ExampleFactory(project=project, external_id="by-the-orm")
    orm.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.external_id, CAST(c.decided_at AS TEXT) FROM consistency_consensuslabel c "
            "JOIN projects_example e ON e.id = c.example_id WHERE e.project_id = %s ORDER BY e.external_id",
            [project.pk],
        )
        stored = dict(cursor.fetchall())
    # The text as stored: with or without an offset, and the separator between date and time.
    shape = {name: (value[10], "+" in value[10:] or value.endswith("Z")) for name, value in stored.items()}
    assert shape["one"] == shape["many"] == shape["by-the-orm"]
