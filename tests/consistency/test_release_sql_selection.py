"""On PostgreSQL a release's clean rows are selected, split and written into its items in SQL
(services._items_write_sql); elsewhere in Python (services._items_write_python, the policy's pure
functions and SplitAssigner). Both must give the same items, counts and splits: here both run on
the same random projects under random policies, against the same previous release (whose splits
kept examples keep), and their items are compared column by column."""

import random

import pytest
from django.db import transaction
from django.utils import timezone

from consistency.releases import services
from consistency.releases.models import DatasetReleaseItem
from consistency.releases.policy import ReleasePolicy
from labeling.models import ConsensusLabel
from projects.models import ExampleTag, TaskType
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Agreements with ties at the 4th decimal (0.03125, 0.00015 just below one): rounded as Python does.
AGREEMENTS = [None, 1.0, 2 / 3, 0.5, 0.03125, 0.00015, 0.123456789, 0.75, 0.6]
METADATA = [
    {"channel": "chat"},
    {"channel": "email"},
    {"channel": None},
    {},
    {"channel": 3},
    {"channel": "é"},
]


def _random_project(project, rng: random.Random, multi: bool, spans: bool = False):
    labels = list(project.labels.all())

    def answer() -> dict:
        """A rater's or the consensus's answer: one label, (multi-label) a set of label ids, or
        (spans) a sorted list of [start, end, label id]."""
        if spans:
            found = {
                (start, start + rng.randrange(1, 4), rng.choice(labels).pk)
                for start in rng.sample(range(6), rng.randrange(0, 3))
            }
            return {"label": None, "spans": sorted(list(span) for span in found)}
        if multi:
            return {
                "label": None,
                "labels": sorted(label.pk for label in rng.sample(labels, rng.randrange(0, 3))),
            }
        return {"label": rng.choice(labels)}

    raters = [UserFactory(username=f"sql-rater-{i}") for i in range(4)]
    versions = [GuidelineVersionFactory(project=project, number=n) for n in (1, 2, 5)]
    for n in range(90):
        example = ExampleFactory(
            project=project, external_id=f"x{rng.randrange(10**6)}-{n}", metadata=rng.choice(METADATA)
        )
        for rater in rng.sample(raters, rng.randrange(0, 4)):
            AnnotationFactory(
                example=example,
                rater=rater,
                **answer(),
                guideline_version=rng.choice([None, *versions]),
                ambiguous=rng.random() < 0.15,
            )
        source = rng.choice(["unanimous", "majority", "majority", "gold", "excluded", None])
        if source is not None:
            ConsensusLabel.objects.create(
                example=example,
                **({"label": None} if source == "excluded" else answer()),
                source=source,
                agreement=None if source in ("gold", "excluded") else rng.choice(AGREEMENTS),
                n_raters=rng.randrange(0, 5),
                decided_at=timezone.now(),
            )
        for tag in ("tricky", "legal"):
            if rng.random() < 0.2:
                ExampleTag.objects.create(project=project, example=example, name=tag)


def _random_policy(rng: random.Random, multi: bool) -> dict:
    """`multi`: a policy for a multi-label or span project (no Dawid-Skene)."""
    sources = rng.sample(
        ["gold", "unanimous", "majority", *([] if multi else ["dawid_skene"])], rng.randrange(1, 4)
    )
    return {
        "seed": f"s{rng.randrange(100)}",
        "sources": sources,
        "min_agreement": rng.choice([0.0, 0.0, 0.5, 0.6, 0.0312, 0.75, 1.0]),
        "exclude_ambiguous": rng.random() < 0.6,
        "include_raters": rng.random() < 0.5,
        "stratify_field": rng.choice(["", "channel"]),
        "ratios": rng.choice([[0.8, 0.1, 0.1], [0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.5, 0.5]]),
        "min_posterior": rng.choice([0.3, 0.6]),
        "include_tags": rng.choice([[], [], ["tricky"]]),
        "exclude_tags": rng.choice([[], [], ["legal"]]),
    }


ITEM_FIELDS = (
    "example_id", "external_id", "label", "source", "split", "agreement", "n_raters",
    "guideline_versions", "rationale", "raters", "labels", "spans",
)  # fmt: skip


def _items(release) -> list[tuple]:
    return list(
        DatasetReleaseItem.objects.filter(release=release).order_by("external_id").values_list(*ITEM_FIELDS)
    )


@pytest.mark.parametrize("task_type", [TaskType.SINGLE, TaskType.MULTI, TaskType.SPANS])
@pytest.mark.parametrize("seed", range(4))
def test_sql_and_python_selection_write_the_same_items(project, manager, seed, task_type):
    rng = random.Random(seed)
    multi = task_type != TaskType.SINGLE
    project.task_type = task_type
    project.save(update_fields=["task_type"])
    _random_project(project, rng, multi, spans=task_type == TaskType.SPANS)
    # A previous release: the examples it holds keep their splits in both paths.
    previous = services.release_build(
        project=project, user=manager, tag="previous", policy=_random_policy(rng, multi)
    )
    assert previous.status == "ready", previous.error
    for case in range(3):
        policy = services.policy_clean(project=project, policy=_random_policy(rng, multi))
        results = {}
        for path in ("sql", "python"):
            release = services.release_create(
                project=project,
                user=manager,
                tag=f"{path}-{case}",
                policy=policy.to_dict(),
                run_in_background=False,
            )
            write = services._items_write_sql if path == "sql" else services._items_write_python
            fit: dict = {}
            with transaction.atomic():
                pairs, n_items = write(release, project, ReleasePolicy.from_dict(release.policy), fit)
            results[path] = (_items(release), {k: v for k, v in pairs.items() if v}, n_items, fit)
        sql_items, python_items = results["sql"][0], results["python"][0]
        assert sql_items == python_items, policy
        assert results["sql"][1:] == results["python"][1:], policy
        assert len(sql_items) == results["sql"][2]
