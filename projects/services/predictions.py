"""Model predictions: importing a model's labels (and probabilities) for a project's examples.

An "import" job of kind "predictions" (projects.services.imports): all or nothing, errors with
line and column. A model is a name and a version (PredictionSet); the same file uploaded again
under them does nothing, a different file is refused unless `replace` is asked for, which swaps
the set's predictions in one transaction. Predictions are never shown to labelers.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from core.jobs.services import job_succeed
from projects.importing import FORMATS, RowError, format_from_name
from projects.models import Example, ImportBatch, Prediction, PredictionSet, Project
from projects.reference_files import PredictionFileReader
from projects.services.imports import (
    Importer,
    import_batch_fail,
    import_limits,
    importer_register,
    project_import_lock,
)

BATCH_ROWS = 5_000


def prediction_import_options_clean(options: dict) -> dict:
    model = str(options.get("model") or "").strip()
    version = str(options.get("version") or "").strip()
    if not model:
        raise ValidationError("Name the model the predictions come from.")
    if len(model) > 100 or len(version) > 100:
        raise ValidationError("A model's name and version are at most 100 characters each.")
    return {"model": model, "version": version, "replace": bool(options.get("replace"))}


def prediction_set_list(*, project: Project):
    return PredictionSet.objects.filter(project=project).order_by("model_name", "version")


def _sha256(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _predictions_run(batch: ImportBatch) -> None:
    project = batch.project
    model, version, replace = (
        batch.options["model"],
        batch.options.get("version", ""),
        batch.options.get("replace"),
    )
    sha = _sha256(batch.stored_file)
    existing = PredictionSet.objects.filter(project=project, model_name=model, version=version).first()
    name = f"{model} {version}".strip()
    if existing is not None and not replace:
        if existing.file_sha256 == sha:
            job_succeed(
                job=batch,
                fields={
                    "bytes_read": batch.bytes_total,
                    "rows_skipped": existing.n_predictions,
                    "summary": {"unchanged": True},
                },
            )
            return
        import_batch_fail(
            batch,
            [
                RowError(
                    0,
                    "model",
                    f"the model {name!r} was imported from a different file; "
                    "replace it on purpose (--replace)",
                )
            ],
            1,
        )
        return
    examples = dict(Example.objects.filter(project=project).values_list("external_id", "pk"))
    labels = dict(project.labels.order_by("position", "pk").values_list("name", "pk"))
    with default_storage.open(batch.stored_file, "rb") as handle:
        reader = PredictionFileReader(
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
    with_probabilities = any(row[4] is not None for row in rows)
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.id)
        if locked.status != ImportBatch.Status.RUNNING or locked.attempts != batch.attempts:
            return
        project_import_lock(project.pk)
        PredictionSet.objects.filter(project=project, model_name=model, version=version).delete()
        prediction_set = PredictionSet.objects.create(
            project=project,
            model_name=model,
            version=version,
            file_sha256=sha,
            source_name=batch.source_name,
            label_ids=list(labels.values()) if with_probabilities else [],
            n_predictions=len(rows),
            created_by=batch.created_by,
        )
        for start in range(0, len(rows), BATCH_ROWS):
            Prediction.objects.bulk_create(
                Prediction(
                    prediction_set=prediction_set,
                    example_id=example,
                    label_id=labels[label],
                    score=score,
                    probabilities=probabilities,
                )
                for _, example, label, score, probabilities in rows[start : start + BATCH_ROWS]
            )
        job_succeed(
            job=batch,
            fields={
                **counts,
                "bytes_read": batch.bytes_total,
                "rows_created": len(rows),
                "summary": {"model": model, "version": version, "replaced": existing is not None},
            },
        )


importer_register(
    Importer(
        kind=ImportBatch.Kind.PREDICTIONS,
        formats=FORMATS,
        format_from_name=format_from_name,
        run=lambda b: _predictions_run(b),
        options_clean=prediction_import_options_clean,
    )
)
