"""Importing images and audio: a ZIP of media files plus a manifest, as an examples import.

It runs in the same frame as a text import (projects.services.imports: ImportBatch, core.jobs,
staging table, one final transaction, all or nothing) and is chosen by the upload's format
"zip". A run:
1. checks the ZIP's directory (projects.media_zip: traversal, links, duplicates, per-file and
   total uncompressed limits, one manifest);
2. reads the manifest row by row; for each row reads its member (bounded by the per-file
   limit), checks it by content (projects.media: magic bytes and a real decode), hashes it and
   saves it to private storage as media/<project>/<sha256>.<ext> unless that file is there;
3. if anything was wrong (a row, a missing, corrupt, disguised or too large file, a file named
   twice, an id used twice), deletes the files this run saved and fails with the errors: line
   and file named, nothing written. Otherwise inserts the staged rows in one transaction.
The ZIP is opened from storage and read member by member: it is never read whole into memory.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.jobs.services import job_succeed
from projects.importing import MAX_ERRORS_KEPT, RowError
from projects.media import MediaRefused, media_check
from projects.media_zip import ManifestReader, MediaLimits, MemberTooLarge, ZipContents
from projects.models import ImportBatch
from projects.services.imports import (
    _Progress,
    copy_text,
    import_batch_fail,
    import_limits,
    project_import_lock,
    staging_drop,
    staging_load,
)

logger = logging.getLogger(__name__)

MEDIA_STAGING_TABLE = "concord_media_staging"
COLUMNS = (
    ("line", "integer", "integer"),
    ("external_id", "varchar(255)", "text"),
    ("text", "text", "text"),
    ("metadata", "jsonb", "text"),
    ("media_file", "varchar(300)", "text"),
    ("media_name", "varchar(255)", "text"),
    ("media_type", "varchar(40)", "text"),
    ("media_sha256", "varchar(64)", "text"),
    ("media_bytes", "bigint", "integer"),
)


def media_limits() -> MediaLimits:
    return MediaLimits(
        max_file_bytes=settings.CONCORD_MEDIA_MAX_FILE_BYTES,
        max_total_bytes=settings.CONCORD_MEDIA_MAX_TOTAL_BYTES,
        max_files=settings.CONCORD_MEDIA_MAX_FILES,
    )


def media_storage_name(*, project_id: int, sha256: str, extension: str) -> str:
    return f"media/{project_id}/{sha256[:2]}/{sha256}.{extension}"


class _MediaRows:
    """The manifest's rows, each with its member checked and stored; errors go to the reader."""

    def __init__(self, batch: ImportBatch, contents: ZipContents, reader: ManifestReader):
        self.batch = batch
        self.contents = contents
        self.reader = reader
        self.saved: list[str] = []  # files this run created (deleted again if it fails)
        self.file_lines: dict[str, int] = {}

    def __iter__(self):
        reader, error = self.reader, self.reader.error
        for line, external_id, name, text, metadata in reader:
            info = self.contents.members.get(name)
            if info is None:
                error(line, "file", f"{name!r} is not in the ZIP")
                continue
            first = self.file_lines.setdefault(name, line)
            if first != line:
                error(line, "file", f"{name!r} is also named on line {first}")
                continue
            try:
                data = self.contents.member_read(info)
                media_type = media_check(data)
            except MemberTooLarge as exc:
                error(line, "file", f"{name!r} {exc}")
                continue
            except MediaRefused as exc:
                error(line, "file", f"{name!r} {exc}")
                continue
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                error(line, "file", f"{name!r} cannot be read from the ZIP ({exc})")
                continue
            sha256 = hashlib.sha256(data).hexdigest()
            if reader.error_count:
                continue  # the import will fail: read on for a complete report, store nothing more
            stored = media_storage_name(
                project_id=self.batch.project_id, sha256=sha256, extension=media_type.extension
            )
            if not default_storage.exists(stored):
                default_storage.save(stored, ContentFile(data))
                self.saved.append(stored)
            yield (
                line,
                external_id or f"sha256:{sha256[:16]}",
                text,
                metadata,
                stored,
                name[-255:],
                media_type.content_type,
                sha256,
                len(data),
            )

    def discard(self) -> None:
        for name in self.saved:
            try:
                default_storage.delete(name)
            except OSError:
                logger.warning("could not delete %s", name, exc_info=True)
        self.saved = []


def _copy_chunk(chunk: list[tuple]) -> str:
    return "".join("\t".join(copy_text(str(value)) for value in row) + "\n" for row in chunk)


def media_import_run(batch: ImportBatch) -> None:
    """The run of an examples import whose file is a ZIP of media (the Importer calls it)."""
    progress = _Progress(batch)
    staging_drop(MEDIA_STAGING_TABLE)
    with default_storage.open(batch.stored_file, "rb") as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError):
            import_batch_fail(batch, [RowError(0, "", "the file is not a readable ZIP archive")], 1)
            return
        with archive:
            contents = ZipContents(archive, media_limits())
            if contents.errors:
                errors = contents.errors[:MAX_ERRORS_KEPT]
                import_batch_fail(batch, errors, len(contents.errors))
                return
            with archive.open(contents.manifest) as manifest:
                reader = ManifestReader(manifest, contents.manifest_format, import_limits())
                rows = _MediaRows(batch, contents, reader)
                try:
                    staged = staging_load(
                        table=MEDIA_STAGING_TABLE,
                        columns=COLUMNS,
                        rows=iter(rows),
                        reader=_ZipProgress(reader, handle),
                        progress=progress,
                        copy_chunk=_copy_chunk,
                    )
                except BaseException:
                    rows.discard()
                    raise
            unused = len(contents.members) - len(rows.file_lines)
    try:
        _media_write(batch, reader, rows, staged, unused)
    except BaseException:
        rows.discard()
        raise


class _ZipProgress:
    """What the progress writer reads: bytes of the ZIP read so far."""

    def __init__(self, reader: ManifestReader, handle):
        self.reader = reader
        self.handle = handle

    @property
    def bytes_read(self) -> int:
        return self.handle.tell()


def _media_write(batch: ImportBatch, reader: ManifestReader, rows: _MediaRows, staged: int, unused: int):
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.id)
        if locked.status != ImportBatch.Status.RUNNING or locked.attempts != batch.attempts:
            rows.discard()
            return
        errors, count = list(reader.errors), reader.error_count
        created = 0
        if not count:
            duplicate_errors, duplicates = _duplicate_ids()
            errors += duplicate_errors
            count += duplicates
        if not count:
            project_import_lock(batch.project_id)
            try:
                with transaction.atomic():
                    created = _insert(batch)
            except IntegrityError:
                errors, count = [RowError(0, "", "an id is used twice")], 1
            else:
                if created < staged:
                    _unreferenced_discard(batch, rows)
        if count:
            rows.discard()
            errors = sorted(errors, key=lambda error: error.line)[:MAX_ERRORS_KEPT]
            import_batch_fail(batch, errors, count, fields={"rows_read": reader.rows_read})
            return
        job_succeed(
            job=batch,
            fields={
                "rows_created": created,
                "rows_skipped": staged - created,
                "rows_read": reader.rows_read,
                "bytes_read": batch.bytes_total,
                "summary": {"media_files_stored": len(rows.saved), "zip_files_not_in_manifest": unused},
            },
        )


def _unreferenced_discard(batch: ImportBatch, rows: _MediaRows) -> None:
    """Delete the files this run stored only for rows skipped as already present (their id was
    in the project): no example shows them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT s.media_file FROM {MEDIA_STAGING_TABLE} AS s WHERE NOT EXISTS "
            "(SELECT 1 FROM projects_example AS e WHERE e.project_id = %s AND e.media_file = s.media_file)",
            [batch.project_id],
        )
        unreferenced = {name for (name,) in cursor.fetchall()}
    kept = [name for name in rows.saved if name not in unreferenced]
    rows.saved = [name for name in rows.saved if name in unreferenced]
    rows.discard()
    rows.saved = kept


def _duplicate_ids() -> tuple[list[RowError], int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.line, s.external_id, d.first_line FROM {MEDIA_STAGING_TABLE} AS s JOIN "
            f"(SELECT external_id, MIN(line) AS first_line FROM {MEDIA_STAGING_TABLE} "
            "GROUP BY external_id HAVING COUNT(*) > 1) AS d ON d.external_id = s.external_id "
            "WHERE s.line > d.first_line ORDER BY s.line"
        )
        found = cursor.fetchall()
    errors = []
    for line, external_id, first_line in found[:MAX_ERRORS_KEPT]:
        if external_id.startswith("sha256:"):
            message = f"the same media file as line {first_line}; add an id column to keep both"
        else:
            message = f"the id {external_id!r} is also used on line {first_line}"
        errors.append(RowError(line, "id", message))
    return errors, len(found)


def _insert(batch: ImportBatch) -> int:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projects_example (project_id, external_id, text, data, metadata, import_batch_id, "
            "annotation_count, extra_raters, media_file, media_name, media_type, media_sha256, media_bytes, "
            "created_at) "
            "SELECT %s, s.external_id, s.text, %s, s.metadata, %s, 0, 0, s.media_file, s.media_name, "
            f"s.media_type, s.media_sha256, s.media_bytes, %s FROM {MEDIA_STAGING_TABLE} AS s "
            "WHERE NOT EXISTS (SELECT 1 FROM projects_example AS e "
            "WHERE e.project_id = %s AND e.external_id = s.external_id)",
            [batch.project_id, "{}", batch.id, now, batch.project_id],
        )
        return cursor.rowcount


def media_import_cleanup() -> None:
    staging_drop(MEDIA_STAGING_TABLE)
