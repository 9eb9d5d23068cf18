"""Importing from an uploaded file: store it, queue the job, run the job.

Every kind of import shares this frame: storing the upload in private storage, the ImportBatch
(a core.jobs job of kind "import": queueing, claiming, heartbeat, progress, failing and recovery
are that mechanism's), and deleting the file at the end. What a kind of import reads and writes
is an `Importer`: the examples importer lives here; apps above this one register theirs (labeling
registers the annotations importer in its AppConfig.ready), so this layer never imports them.

How an examples run works (`_examples_run`):
1. The batch is claimed (core.jobs.services.job_claim). A batch that already succeeded or failed
   is left alone, so a redelivered task does no harm; a batch whose worker died is run again from
   the start (its uploaded file is kept until the job ends).
2. Staging: the file is read as a stream (projects.importing) and its valid rows go into a
   TEMP table of this database connection: on PostgreSQL with COPY ... FROM STDIN (text
   format, one COPY per half second), on SQLite with executemany in chunks of 5,000 rows.
   Staging runs before the final transaction and writes no Example row, so progress
   (bytes_read, rows_read) is committed between chunks on the same connection and the status
   page sees it on both databases. No second connection is needed, which matters on SQLite,
   where a second writer would wait for the first one's lock. A temp table disappears with its
   connection, so a worker that dies leaves nothing behind.
3. Writing, in ONE transaction with the batch row locked (and, on PostgreSQL, an advisory lock
   per project so two imports into one project queue up): if the reader found any error the
   batch fails with the first 50 errors (and the count of all) and no Example is written;
   otherwise INSERT ... SELECT FROM staging WHERE NOT EXISTS (the same id in the project).
   An id used twice in the file hits the unique index (project, external_id); only then, or
   when rows were skipped, a GROUP BY over the staging table names the lines of the repeated
   ids, and the insert is rolled back. (Without an id column the same text twice gives the
   same derived id: "same text as line N; add an id column to keep both".)

Re-importing: rows whose id already exists in the project are SKIPPED, never updated: an
example's text must not change under annotations already made on it. `rows_created` and
`rows_skipped` report both. The uploaded file is deleted from private storage when the job ends.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict
from core.jobs.services import (
    JobKind,
    job_dispatched_here,
    job_enqueue,
    job_fail,
    job_progress,
    job_requeue_failed,
    job_run,
    job_stop_reason,
    job_succeed,
)
from core.rawsql import insert_sql
from projects.importing import (
    MAX_ERRORS_KEPT,
    MEDIA_FORMAT,
    UPLOAD_FORMATS,
    ExampleFileReader,
    ImportLimits,
    RowError,
    format_from_name,
    is_derived_external_id,
)
from projects.models import ImportBatch, Project, TaskType
from projects.tasks import import_batch_task

logger = logging.getLogger(__name__)

STAGING_TABLE = "concord_import_staging"
PROGRESS_EVERY_SECONDS = 0.5
SQLITE_CHUNK_ROWS = 5_000
COPY_CHUNK_ROWS = 2_000
IMPORT_LOCK_NAMESPACE = 7_310_001  # first key of pg_advisory_xact_lock(ns, project_id)


def import_limits() -> ImportLimits:
    return ImportLimits(
        max_text_chars=settings.CONCORD_IMPORT_MAX_TEXT_CHARS,
        max_id_chars=settings.CONCORD_IMPORT_MAX_ID_CHARS,
        max_metadata_chars=settings.CONCORD_IMPORT_MAX_METADATA_CHARS,
    )


@dataclass(frozen=True)
class Importer:
    """One kind of import: the formats it reads and the job that runs it.

    `run(batch)` reads the stored file and ends the batch itself (succeeded, or failed with its
    errors); the frame turns anything it raises into a failure. `options_clean(options)` checks
    what the upload asked for and returns the options to store (ValidationError if invalid).
    `cleanup()` drops what a run leaves on the connection (staging tables), even after a crash.
    """

    kind: str
    formats: tuple[str, ...]
    format_from_name: Callable[[str], str | None]
    run: Callable[[ImportBatch], None]
    options_clean: Callable[[dict], dict] = field(default=lambda options: {})
    cleanup: Callable[[], None] = field(default=lambda: None)


_IMPORTERS: dict[str, Importer] = {}


def importer_register(importer: Importer) -> None:
    """Make a kind of import available (called once per kind at start-up)."""
    _IMPORTERS[importer.kind] = importer


def importer_get(kind: str) -> Importer:
    try:
        return _IMPORTERS[kind]
    except KeyError:
        raise ValidationError(f"Unknown kind of import {kind!r}.") from None


def import_format_detect(*, source_name: str, file_format: str | None = None, kind: str = "examples") -> str:
    """The explicit format if given, else the one the extension names; ValidationError if neither."""
    importer = importer_get(kind)
    if file_format:
        if file_format not in importer.formats:
            raise ValidationError(
                f"Unknown format {file_format!r}: use one of {', '.join(importer.formats)}."
            )
        return file_format
    detected = importer.format_from_name(source_name)
    if detected is None:
        extensions = {
            ImportBatch.Kind.EXAMPLES: ".csv, .tsv, .jsonl (or .ndjson), .json or .zip (media)",
            ImportBatch.Kind.ANNOTATIONS: ".csv, .tsv, .jsonl (or .ndjson) or .json (Label Studio)",
        }.get(kind, "after its format")
        raise ValidationError(
            f"Cannot tell the format of {source_name!r}: name it {extensions}, or choose the format."
        )
    return detected


# Gold and predictions are one label per example (the model loop is single-label).
GOLD_SINGLE_LABEL_ONLY = (
    "Gold labels and model predictions are one label per example, so they work on single-label "
    "projects only: the raters of this project give label sets or spans. An SME's resolutions are "
    "its gold answers."
)


def import_batch_create(
    *,
    project: Project,
    user,
    uploaded_file_or_path,
    source_name: str,
    file_format: str | None = None,
    kind: str = ImportBatch.Kind.EXAMPLES,
    options: dict | None = None,
    run_in_background: bool = True,
) -> ImportBatch:
    """Store the file in private storage, create its ImportBatch and queue the import job.

    `uploaded_file_or_path` is an uploaded file (or any file object) or a filesystem path.
    `options` are checked by the kind's importer. With run_in_background=False nothing is
    queued (the management commands then call import_batch_run themselves).
    """
    importer = importer_get(kind)
    if kind in (ImportBatch.Kind.GOLD, ImportBatch.Kind.PREDICTIONS) and project.task_type != TaskType.SINGLE:
        raise ValidationError(GOLD_SINGLE_LABEL_ONLY)
    file_format = import_format_detect(source_name=source_name, file_format=file_format, kind=kind)
    cleaned = importer.options_clean(dict(options or {}))
    if isinstance(uploaded_file_or_path, str | os.PathLike):
        path = Path(uploaded_file_or_path)
        if not path.is_file():
            raise ValidationError(f"{path} is not a file.")
        with path.open("rb") as handle:
            return _batch_create(
                project, user, File(handle), source_name, file_format, kind, cleaned, run_in_background
            )
    upload = uploaded_file_or_path
    if not isinstance(upload, File):
        upload = File(upload)
    return _batch_create(project, user, upload, source_name, file_format, kind, cleaned, run_in_background)


def _batch_create(
    project, user, upload: File, source_name, file_format, kind, options, run_in_background
) -> ImportBatch:
    size = upload.size
    if size > settings.CONCORD_IMPORT_MAX_FILE_BYTES:
        raise ValidationError(
            f"The file is {size} bytes; the limit is {settings.CONCORD_IMPORT_MAX_FILE_BYTES} bytes."
        )
    stored_name = default_storage.save(f"imports/{project.pk}/{uuid.uuid4().hex}.{file_format}", upload)
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                project=project,
                kind=kind,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                source_name=source_name[:255],
                file_format=file_format,
                stored_file=stored_name,
                bytes_total=size,
                options=options,
            )
            if run_in_background:
                job_enqueue(job=batch)
            else:
                job_dispatched_here(job=batch)
    except BaseException:
        default_storage.delete(stored_name)
        raise
    return batch


def unexpected_error(exc: BaseException, *, outcome: str = "nothing was written") -> RowError:
    """What a job that crashed says: the kind of error, never its details (they go to the log)."""
    return RowError(
        0,
        "",
        f"the job stopped because of {job_stop_reason(exc)}; {outcome}, and the server log has the details",
    )


def import_batch_run(*, batch_id: int) -> ImportBatch:
    """Run the import of one batch to the end (succeeded or failed) and return the batch. The
    task's whole job; a finished batch, or one a live worker runs, is left as it is."""
    job_run(kind="import", job_id=batch_id)
    return ImportBatch.objects.get(pk=batch_id)


def _import_run(batch: ImportBatch) -> None:
    """The "import" job's run: the batch's importer reads the stored file and ends the batch."""
    importer = _IMPORTERS.get(batch.kind)
    job_progress(job=batch, percent=0, text="0% read", fields={"bytes_read": 0, "rows_read": 0})
    try:
        if importer is None:
            raise RuntimeError(f"no importer registered for {batch.kind!r}")
        if not batch.stored_file or not default_storage.exists(batch.stored_file):
            import_batch_fail(batch, [RowError(0, "", "the uploaded file is no longer available")], 1)
        else:
            importer.run(batch)
    except Exception as exc:
        logger.exception("import batch %s stopped by an unexpected error", batch.pk)
        import_batch_fail(batch, [unexpected_error(exc)], 1)
    finally:
        if importer is not None:
            importer.cleanup()
        _delete_stored_file(batch)


# What a retried batch (an import, or re-deciding) starts again from.
RETRY_RESETS = {"bytes_read": 0, "rows_read": 0, "errors": [], "error_count": 0}


def import_batch_retry(*, batch: ImportBatch) -> ImportBatch:
    """Queue again an import whose worker stopped while it ran (its file was kept for this)."""
    if not batch.stored_file or not default_storage.exists(batch.stored_file):
        raise Conflict("The uploaded file is no longer kept; upload it again.")
    return job_requeue_failed(job=batch, fields=RETRY_RESETS)


def _examples_run(batch: ImportBatch) -> None:
    progress = _Progress(batch)
    with default_storage.open(batch.stored_file, "rb") as handle:
        reader = ExampleFileReader(handle, batch.file_format, import_limits())
        _drop_staging()
        staged = _stage(reader, progress)
        bytes_read = reader.bytes_read
        progress(reader, staged, force=True)  # everything is read: the page says "saving"

    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.id)
        if locked.status != ImportBatch.Status.RUNNING or locked.attempts != batch.attempts:
            return  # another worker took this batch over meanwhile
        derived_ids = reader.used_derived_ids
        duplicates = None  # (errors, count) when the file uses an id twice
        if reader.error_count:
            duplicates = _duplicate_errors(derived_ids=derived_ids)  # for a complete error report
        else:
            project_import_lock(batch.project_id)
            try:
                with transaction.atomic():
                    created = _insert_examples(batch)
                    if created < staged:
                        # Ids already in the project were left out; an id used twice in the file
                        # and already present would have been left out too: check for those.
                        found = _duplicate_errors(derived_ids=derived_ids)
                        if found[1]:
                            raise _DuplicateIds(found)
            except IntegrityError:
                # An id used twice in the file hits the unique index: find the lines.
                duplicates = _duplicate_errors(derived_ids=derived_ids)
                if not duplicates[1]:
                    raise
            except _DuplicateIds as exc:
                duplicates = exc.duplicates
        if reader.error_count or duplicates:
            _fail_with_errors(batch, reader, duplicates or ([], 0), bytes_read=bytes_read)
            return
        job_succeed(
            job=batch,
            fields={
                "rows_created": created,
                "rows_skipped": staged - created,
                "rows_read": reader.rows_read,
                "bytes_read": batch.bytes_total,
            },
        )


class _DuplicateIds(Exception):
    """Raised inside the insert's savepoint to roll it back."""

    def __init__(self, duplicates: tuple[list[RowError], int]):
        super().__init__("duplicate ids")
        self.duplicates = duplicates


def _fail_with_errors(
    batch: ImportBatch,
    reader: ExampleFileReader,
    duplicates: tuple[list[RowError], int],
    *,
    bytes_read: int,
) -> None:
    duplicate_errors, duplicate_count = duplicates
    errors = sorted(reader.errors + duplicate_errors, key=lambda error: error.line)[:MAX_ERRORS_KEPT]
    fields = {"bytes_read": bytes_read, "rows_read": reader.rows_read}
    import_batch_fail(batch, errors, reader.error_count + duplicate_count, fields=fields)


def project_import_lock(project_id: int) -> None:
    """Serialise imports into one project (inside their final transaction), so a NOT EXISTS
    filter cannot race another import.

    SQLite needs nothing: its writers already queue on the database lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [IMPORT_LOCK_NAMESPACE, project_id])


class _Progress:
    """Writes bytes_read/rows_read (and the job's percent, text and heartbeat) at most every half
    second (autocommit: others see it)."""

    def __init__(self, batch: ImportBatch):
        self.batch = batch
        self.batch_id = batch.pk
        self.last = time.monotonic()

    def __call__(self, reader: ExampleFileReader, rows: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        total = self.batch.bytes_total
        if total and reader.bytes_read >= total:
            percent, text = 99, "Read: now checking and saving"
        else:
            percent = int(100 * reader.bytes_read / total) if total else 0
            text = f"{percent}% read"
        # rows_read counts the valid rows staged so far; the final figure comes from the reader.
        job_progress(
            job=self.batch,
            percent=min(99, percent),
            text=text,
            fields={"bytes_read": reader.bytes_read, "rows_read": rows},
        )

    def due(self) -> bool:
        return time.monotonic() - self.last >= PROGRESS_EVERY_SECONDS


def _stage(reader: ExampleFileReader, progress: _Progress) -> int:
    """Load the reader's valid rows into the examples staging table; returns how many."""
    return staging_load(
        table=STAGING_TABLE,
        columns=(
            ("line", "integer", "integer"),
            ("external_id", "varchar(255)", "text"),
            ("text", "text", "text"),
            ("metadata", "jsonb", "text"),
        ),
        rows=iter(reader),
        reader=reader,
        progress=progress,
        copy_chunk=_examples_copy_chunk,
    )


def staging_load(
    *,
    table: str,
    columns: tuple[tuple[str, str, str], ...],
    rows: Iterator[tuple],
    reader,
    progress: _Progress,
    copy_chunk: Callable[[list[tuple]], str],
) -> int:
    """Create the TEMP table `table` (columns: name, PostgreSQL type, SQLite type; all NOT NULL)
    and load `rows` into it; returns how many.

    PostgreSQL: COPY ... FROM STDIN, one COPY statement per ~half second so progress can be
    written between them; `copy_chunk` formats a list of rows in COPY's text format. SQLite:
    executemany in chunks. `reader` is the StreamReader the rows come from (for bytes_read).
    """
    names = ", ".join(name for name, _, _ in columns)
    postgres = connection.vendor == "postgresql"
    definition = ", ".join(f"{name} {pg if postgres else lite} NOT NULL" for name, pg, lite in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {table} ({definition})")
        staged = 0
        if postgres:
            raw_cursor = cursor.cursor  # psycopg2's own cursor, for copy_expert
            copy = f"COPY {table} ({names}) FROM STDIN"
            while True:
                source = _CopySource(rows, stop_when=progress.due, copy_chunk=copy_chunk)
                raw_cursor.copy_expert(copy, source, size=256 * 1024)
                staged += source.rows
                if source.exhausted:
                    return staged
                progress(reader, staged, force=True)
        insert = insert_sql(table, tuple(name for name, _, _ in columns))
        while chunk := list(islice(rows, SQLITE_CHUNK_ROWS)):
            cursor.executemany(insert, chunk)
            staged += len(chunk)
            progress(reader, staged)
        return staged


class _CopySource:
    """A file-like object for copy_expert: a chunk of rows in COPY's text format per read()."""

    def __init__(self, rows: Iterator, stop_when: Callable[[], bool], copy_chunk: Callable[[list], str]):
        self.rows = 0
        self.exhausted = False
        self._rows = rows
        self._stop_when = stop_when
        self._copy_chunk = copy_chunk

    def read(self, size: int = -1) -> str:
        if self.exhausted or (self.rows and self._stop_when()):
            return ""
        chunk = list(islice(self._rows, COPY_CHUNK_ROWS))
        if not chunk:
            self.exhausted = True
            return ""
        self.rows += len(chunk)
        return self._copy_chunk(chunk)

    readline = read


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """A value in COPY's text format (backslash, tab, newline and CR escaped)."""
    return value.translate(_COPY_ESCAPES)


def _examples_copy_chunk(chunk: list[tuple]) -> str:
    """Examples rows in COPY's text format, faster than escaping field by field: the chunk is
    joined with NUL separators (valid rows never contain NUL, and no field is empty, so NUL NUL
    can only separate rows), escaped with four replaces over the whole chunk, then the
    separators become tabs and newlines."""
    data = "\x00\x00".join(
        f"{line}\x00{external_id}\x00{text}\x00{metadata}" for line, external_id, text, metadata in chunk
    )
    if "\\" in data:
        data = data.replace("\\", "\\\\")
    if "\t" in data:
        data = data.replace("\t", "\\t")
    if "\n" in data:
        data = data.replace("\n", "\\n")
    if "\r" in data:
        data = data.replace("\r", "\\r")
    return data.replace("\x00\x00", "\n").replace("\x00", "\t") + "\n"


def _duplicate_errors(*, derived_ids: bool) -> tuple[list[RowError], int]:
    """Rows whose id appeared on an earlier line of the file: (first 50 errors, count of all)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL work_mem = '256MB'")
        duplicates = (
            f"SELECT external_id, MIN(line) AS first_line, COUNT(*) AS n FROM {STAGING_TABLE} "
            "GROUP BY external_id HAVING COUNT(*) > 1"
        )
        cursor.execute(f"SELECT COALESCE(SUM(n - 1), 0) FROM ({duplicates}) AS d")
        count = int(cursor.fetchone()[0])
        if not count:
            return [], 0
        cursor.execute(
            f"SELECT s.line, s.external_id, d.first_line FROM {STAGING_TABLE} AS s "
            f"JOIN ({duplicates}) AS d ON d.external_id = s.external_id "
            "WHERE s.line > d.first_line ORDER BY s.line LIMIT %s",
            [MAX_ERRORS_KEPT],
        )
        errors = []
        for line, external_id, first_line in cursor.fetchall():
            if derived_ids and is_derived_external_id(external_id):
                errors.append(
                    RowError(line, "text", f"same text as line {first_line}; add an id column to keep both")
                )
            else:
                message = f"the id {external_id!r} is also used on line {first_line}"
                errors.append(RowError(line, "id", message))
        return errors, count


def _insert_examples(batch: ImportBatch) -> int:
    """Copy staged rows into projects_example, leaving out ids the project already has.

    NOT EXISTS rather than ON CONFLICT DO NOTHING: a plain insert is about twice as fast on
    PostgreSQL as a speculative one, and an id used twice in the file still hits the unique
    index (IntegrityError) instead of being dropped silently.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projects_example "
            "(project_id, external_id, text, data, metadata, import_batch_id, annotation_count, created_at) "
            f"SELECT %s, s.external_id, s.text, %s, s.metadata, %s, 0, %s FROM {STAGING_TABLE} AS s "
            "WHERE NOT EXISTS (SELECT 1 FROM projects_example AS e "
            "WHERE e.project_id = %s AND e.external_id = s.external_id)",
            [batch.project_id, "{}", batch.id, now, batch.project_id],
        )
        return cursor.rowcount


def staging_drop(*tables: str) -> None:
    """Drop staging tables if they exist (a crashed run may have left them on this connection)."""
    try:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
    except Exception:  # the connection may be broken; the temp table dies with it
        logger.warning("could not drop the import staging tables", exc_info=True)


def _drop_staging() -> None:
    staging_drop(STAGING_TABLE)


def import_batch_fail(
    batch: ImportBatch,
    errors: list[RowError],
    error_count: int,
    *,
    fields: dict | None = None,
    retryable: bool = False,
) -> bool:
    """Fail a running batch with its errors (the first 50) and their count; nothing is written if
    its run no longer owns it. The message says what went wrong in a sentence."""
    if batch.kind == ImportBatch.Kind.DECISIONS:
        message = f"Re-deciding stopped: {error_count} problem{'' if error_count == 1 else 's'}."
    else:
        message = (
            f"The file was not imported: {error_count} problem{'' if error_count == 1 else 's'} found, "
            "and nothing was written. Fix the file and upload it again."
        )
    return job_fail(
        job=batch,
        message=message,
        fields={
            "errors": [error.as_dict() for error in errors],
            "error_count": error_count,
            "rows_created": 0,
            "rows_skipped": 0,
            **(fields or {}),
        },
        retryable=retryable,
    )


def _delete_stored_file(batch: ImportBatch) -> None:
    if not batch.stored_file:
        return
    try:
        default_storage.delete(batch.stored_file)
    except OSError:
        logger.warning("could not delete %s", batch.stored_file, exc_info=True)
    ImportBatch.objects.filter(pk=batch.pk).update(stored_file="")


def _examples_or_media_run(batch: ImportBatch) -> None:
    """A ZIP is media plus a manifest (projects.services.media_imports, which builds on this
    module and so is imported when needed); every other format is a text file."""
    if batch.file_format == MEDIA_FORMAT:
        from projects.services.media_imports import media_import_run

        media_import_run(batch)
    else:
        _examples_run(batch)


def _examples_cleanup() -> None:
    from projects.services.media_imports import media_import_cleanup

    _drop_staging()
    media_import_cleanup()


importer_register(
    Importer(
        kind=ImportBatch.Kind.EXAMPLES,
        formats=UPLOAD_FORMATS,
        format_from_name=format_from_name,
        run=lambda batch: _examples_or_media_run(batch),  # looked up at call time, so tests can patch it
        cleanup=lambda: _examples_cleanup(),
    )
)
# The "import" jobs (core.jobs), registered by ProjectsConfig.ready.
IMPORT_JOBS = JobKind(
    name="import",
    model=ImportBatch,
    task=import_batch_task,
    run=_import_run,
    rows=Q(kind__in=ImportBatch.IMPORT_KINDS),
    inputs_remove=lambda batch: _delete_stored_file(batch),
    retry=lambda batch, user: import_batch_retry(batch=batch),
)
