"""Gold labels: a seeded random draw for an SME to label, an SME's gold label, and gold imports.

Gold is the project's trusted ground truth (projects.models.GoldLabel): human-level performance
and model accuracy are measured on it, and gold examples with free seats are mixed into labelers'
queues as honeypots (labeling.services.annotations). The import is an "import" job of kind
"gold" (projects.services.imports): all or nothing, errors with line and column.
"""

from __future__ import annotations

import random

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, NotFound
from core.jobs.services import job_succeed
from projects.importing import FORMATS, format_from_name
from projects.models import Example, GoldLabel, ImportBatch, Label, Project, TaskType
from projects.reference_files import GoldFileReader
from projects.services.imports import (
    GOLD_SINGLE_LABEL_ONLY,
    Importer,
    import_batch_fail,
    import_limits,
    importer_register,
    project_import_lock,
)

MAX_SAMPLE = 10_000


@transaction.atomic
def gold_single_label_required(*, project: Project, field: str = "project") -> None:
    """Refuse gold and predictions on a multi-label or span project (one label per example)."""
    if project.task_type != TaskType.SINGLE:
        raise ApplicationError(GOLD_SINGLE_LABEL_ONLY, extra={field: [GOLD_SINGLE_LABEL_ONLY]})


def gold_sample_draw(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    size: int | None = None,
    share: float | None = None,
    seed: int | None = None,
) -> list[GoldLabel]:
    """Draw `size` examples (or `share` of all) at random, seeded, among those not yet gold, and
    mark them for an SME to label. The same seed on the same examples draws the same sample."""
    gold_single_label_required(project=project)
    if (size is None) == (share is None):
        raise ApplicationError(
            "Give either a sample size or a share of the examples.", extra={"size": ["Required."]}
        )
    candidates = list(
        project.examples.filter(gold__isnull=True)
        .exclude(text="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if share is not None:
        if not 0 < share <= 1:
            raise ApplicationError(
                "The share must be above 0 and at most 1.", extra={"share": ["Out of range."]}
            )
        total = project.examples.count()
        size = max(1, round(share * total))
    if size is None or size < 1 or size > MAX_SAMPLE:
        raise ApplicationError(
            f"The sample size must be 1 to {MAX_SAMPLE}.", extra={"size": ["Out of range."]}
        )
    size = min(size, len(candidates))  # every example already gold: an empty sample
    chosen = sorted(random.Random(seed).sample(candidates, size))  # noqa: S311 (a sample, not a secret)
    return GoldLabel.objects.bulk_create(
        GoldLabel(project=project, example_id=pk, source=GoldLabel.Source.SAMPLED) for pk in chosen
    )


@transaction.atomic
def gold_label_set(*, project: Project, user: AbstractBaseUser, example_id: int, label_id: int) -> GoldLabel:
    """An SME's (or manager's) gold label for an example drawn for gold, or a correction of one."""
    gold_single_label_required(project=project, field="label")
    try:
        gold = GoldLabel.objects.select_for_update().get(project=project, example_id=example_id)
    except (GoldLabel.DoesNotExist, ValueError, TypeError):
        raise NotFound("This example was not drawn for gold.") from None
    try:
        label = project.labels.get(pk=label_id)
    except (Label.DoesNotExist, ValueError, TypeError):
        raise ApplicationError(
            "Choose one of this project's labels.", extra={"label": ["Unknown label."]}
        ) from None
    gold.label = label
    gold.labeled_by = user
    gold.labeled_at = timezone.now()
    gold.save(update_fields=["label", "labeled_by", "labeled_at"])
    return gold


@transaction.atomic
def gold_remove(*, project: Project, example_id: int) -> None:
    """Take an example out of the gold set (its annotations stay)."""
    GoldLabel.objects.filter(project=project, example_id=example_id).delete()


# --------------------------------------------------------------------------------------------------
# The import job


def _gold_run(batch: ImportBatch) -> None:
    project = batch.project
    examples = dict(Example.objects.filter(project=project).values_list("external_id", "pk"))
    labels = dict(project.labels.values_list("name", "pk"))
    with default_storage.open(batch.stored_file, "rb") as handle:
        reader = GoldFileReader(
            handle, batch.file_format, examples=examples, labels=list(labels), limits=import_limits()
        )
        rows = list(reader)
        bytes_read = reader.bytes_read
    counts = {"bytes_read": bytes_read, "rows_read": reader.rows_read}
    if reader.error_count:
        import_batch_fail(
            batch, sorted(reader.errors, key=lambda e: e.line), reader.error_count, fields=counts
        )
        return
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.id)
        if locked.status != ImportBatch.Status.RUNNING or locked.attempts != batch.attempts:
            return
        project_import_lock(project.pk)
        now = timezone.now()
        existing = {
            gold.example_id: gold
            for gold in GoldLabel.objects.select_for_update().filter(
                project=project, example_id__in=[example for _, example, _ in rows]
            )
        }
        created, changed = [], []
        for _, example, name in rows:
            gold = existing.get(example)
            if gold is None:
                created.append(
                    GoldLabel(
                        project=project,
                        example_id=example,
                        label_id=labels[name],
                        source=GoldLabel.Source.IMPORTED,
                        labeled_by=batch.created_by,
                        labeled_at=now,
                    )
                )
            elif gold.label_id != labels[name]:
                gold.label_id, gold.source, gold.labeled_by, gold.labeled_at = (
                    labels[name],
                    GoldLabel.Source.IMPORTED,
                    batch.created_by,
                    now,
                )
                changed.append(gold)
        GoldLabel.objects.bulk_create(created, batch_size=5_000)
        GoldLabel.objects.bulk_update(
            changed, ["label", "source", "labeled_by", "labeled_at"], batch_size=5_000
        )
        job_succeed(
            job=batch,
            fields={
                **counts,
                "bytes_read": batch.bytes_total,
                "rows_created": len(created) + len(changed),
                "rows_skipped": len(rows) - len(created) - len(changed),
                "summary": {"gold_created": len(created), "gold_changed": len(changed)},
            },
        )


importer_register(
    Importer(
        kind=ImportBatch.Kind.GOLD,
        formats=FORMATS,
        format_from_name=format_from_name,
        run=lambda b: _gold_run(b),
    )
)
