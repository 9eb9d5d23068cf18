"""Files derived from a ready release for other tools (Parquet per split, a Hugging Face dataset,
Label Studio tasks; CoNLL-style BIO for span projects), written from the release's stored JSONL
and then kept. Which formats a release offers depends on its project's task type
(release_formats): a format that does not fit is refused by name.

When: the worker writes them right after the build, in a task of their own
(tasks.release_exports_task), so a large release's first download does not wait for them; any
that are missing (a release cut on the command line or before these formats existed, a task that
was lost) are written on their first download. The build itself, and its byte-stable JSONL and
CSV, are untouched, and the release row never changes.

The files are a function of the immutable release (and the agreement report it recorded), so
written once they never change; a `ReleaseExport` row holds each one's path, size and SHA-256.
Writers of one release take its row lock, so the worker and a download, or two downloads, write
the files once. The JSONL is read streaming (formats.jsonl_records), each file goes through a
temporary file into private storage, and the response streams it from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from consistency.releases.formats import SPLITS, jsonl_records
from consistency.releases.formats.labelstudio import labelstudio_write
from consistency.releases.models import DatasetRelease, ReleaseExport
from core.errors import Conflict, NotFound
from projects.models import TaskType

READ_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str  # of the stored file and of the download's name
    content_type: str


STORED_FORMATS = ("jsonl", "csv", "json")  # written by the build (json: the JSONL as an array)
PARQUET = "application/vnd.apache.parquet"
EXPORT_FORMATS = {
    export.name: export
    for export in (
        *(ExportFormat(f"parquet-{split}", f"{split}.parquet", PARQUET) for split in SPLITS),
        ExportFormat("hf", "hf.zip", "application/zip"),
        ExportFormat("labelstudio", "labelstudio.json", "application/json; charset=utf-8"),
        ExportFormat("conll", "bio.conll", "text/plain; charset=utf-8"),
    )
}
SPAN_FORMATS = frozenset({"conll"})  # offered by span projects only


def export_filename(*, release: DatasetRelease, file_format: str) -> str:
    return f"{release.project.slug}-{release.tag}-{EXPORT_FORMATS[file_format].suffix}"


def _storage_name(release: DatasetRelease, file_format: str) -> str:
    # Named after the release like its JSONL, so a build's leftovers removal would find it too.
    return f"releases/{release.project_id}/{release.pk}-{release.tag}.{EXPORT_FORMATS[file_format].suffix}"


def _records(release: DatasetRelease) -> Iterator[dict]:
    with default_storage.open(release.jsonl_file, "rb") as handle:
        yield from jsonl_records(iter(lambda: handle.read(READ_BLOCK), b""))


class _Hashing:
    """A binary sink that hashes and counts what goes through (Parquet writes need tell())."""

    def __init__(self, handle: IO[bytes]):
        self.handle, self.digest, self.size = handle, hashlib.sha256(), 0
        self.closed = False

    def write(self, data) -> int:
        data = bytes(data)
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:  # the writer closing its sink leaves our temporary file open
        self.closed = True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


def _store(release: DatasetRelease, file_format: str, handle: IO[bytes], sink: _Hashing) -> ReleaseExport:
    name = _storage_name(release, file_format)
    handle.seek(0)
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, File(handle))
    export, _ = ReleaseExport.objects.update_or_create(
        release=release,
        file_format=file_format,
        defaults={"file": saved, "bytes": sink.size, "sha256": sink.digest.hexdigest()},
    )
    return export


# pyarrow is imported where a file is written, not with this module: every web and worker
# process loads the views, few of them ever write Parquet (and pyarrow is large).


def _write_parquet(release: DatasetRelease) -> None:
    from consistency.releases.formats.parquet import MetadataTypes, parquet_write, release_schema

    policy = release.policy or {}
    types = MetadataTypes()
    for line in _records(release):
        types.add(line.get("metadata"))
    schema = release_schema(
        metadata_type=types.arrow_type(),
        include_rationale=bool(policy.get("include_rationale")),
        include_raters=bool(policy.get("include_raters")),
        multi_label=release.project.task_type == TaskType.MULTI,
        spans=release.project.task_type == TaskType.SPANS,
    )
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(tempfile.TemporaryFile()) for _ in SPLITS]
        sinks = {split: _Hashing(handle) for split, handle in zip(SPLITS, handles, strict=True)}
        parquet_write(_records(release), schema=schema, outputs=sinks)
        for split, handle in zip(SPLITS, handles, strict=True):
            _store(release, f"parquet-{split}", handle, sinks[split])


def _parquet_schema(release: DatasetRelease):
    import pyarrow.parquet as pq

    with default_storage.open(
        ReleaseExport.objects.get(release=release, file_format="parquet-train").file
    ) as f:
        return pq.read_schema(f)


def _write_huggingface(release: DatasetRelease) -> None:
    from consistency.releases.formats.huggingface import CardFacts, dataset_card, huggingface_zip_write

    for split in SPLITS:
        _ensure(release, f"parquet-{split}")
    files = {e.file_format: e.file for e in ReleaseExport.objects.filter(release=release)}
    counts = release.counts or {}
    split_counts = {split: int((counts.get("splits") or {}).get(split, 0)) for split in SPLITS}
    versions: set[int] = set()
    for line in _records(release):
        versions.update(line.get("guideline_versions") or [])
    report = release.agreement_report
    facts = CardFacts(
        project_name=release.project.name,
        project_slug=release.project.slug,
        tag=release.tag,
        sha256=release.sha256,
        created_at=release.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        n_items=release.n_items,
        policy=release.policy or {},
        split_counts=split_counts,
        label_split=counts.get("label_split") or {},
        guideline_in_force=release.guideline_version.number if release.guideline_version else None,
        guideline_versions=sorted(versions),
        report_id=report.pk if report else None,
        report_at=report.finished_at.strftime("%Y-%m-%d %H:%M UTC") if report and report.finished_at else "",
        report=report.result if report else None,
    )
    label_names = sorted((counts.get("labels") or {}).keys())
    card = dataset_card(facts, schema=_parquet_schema(release), label_names=label_names)
    data_files = {
        split: (lambda name=files[f"parquet-{split}"]: default_storage.open(name, "rb"))
        for split in SPLITS
        if split_counts[split]
    }
    with tempfile.TemporaryFile() as handle:
        sink = _Hashing(handle)
        huggingface_zip_write(out=sink, card=card, data_files=data_files)
        _store(release, "hf", handle, sink)


def _write_conll(release: DatasetRelease) -> None:
    from consistency.releases.formats.conll import conll_write

    with tempfile.TemporaryFile() as handle:
        sink = _Hashing(handle)
        conll_write(_records(release), out=sink)
        _store(release, "conll", handle, sink)


def _write_labelstudio(release: DatasetRelease) -> None:
    with tempfile.TemporaryFile() as handle:
        sink = _Hashing(handle)
        labelstudio_write(_records(release), release_tag=release.tag, out=sink)
        _store(release, "labelstudio", handle, sink)


def _ensure(release: DatasetRelease, file_format: str) -> ReleaseExport:
    export = ReleaseExport.objects.filter(release=release, file_format=file_format).first()
    if export is not None and default_storage.exists(export.file):
        return export
    if file_format.startswith("parquet-"):
        _write_parquet(release)
    elif file_format == "hf":
        _write_huggingface(release)
    elif file_format == "conll":
        _write_conll(release)
    else:
        _write_labelstudio(release)
    return ReleaseExport.objects.get(release=release, file_format=file_format)


def release_export_get(*, release: DatasetRelease, file_format: str) -> ReleaseExport:
    """The stored file of a ready release in a derived format, written now if it is the first
    time. NotFound for an unknown format, Conflict while the release is not ready."""
    offered = release_formats(project=release.project)
    if file_format not in offered:
        unknown = "Unknown format" if file_format not in EXPORT_FORMATS else "This project's releases have no"
        raise NotFound(f"{unknown} {file_format!r}: use {', '.join(offered)}.")
    if release.status != DatasetRelease.Status.READY:
        raise Conflict("The release is not ready yet.")
    export = ReleaseExport.objects.filter(release=release, file_format=file_format).first()
    if export is not None and default_storage.exists(export.file):
        return export
    if not release.jsonl_file or not default_storage.exists(release.jsonl_file):
        raise NotFound("The release file is missing from storage.")
    with transaction.atomic():
        # One writer per release at a time; the second finds the files written.
        locked = (
            DatasetRelease.objects.select_for_update(of=("self",))
            .select_related("project", "guideline_version", "agreement_report")
            .get(pk=release.pk)
        )
        return _ensure(locked, file_format)


def release_exports_write(*, release_id: int) -> list[ReleaseExport]:
    """Write every derived file of a ready release that is not written yet (the worker, after
    the build); nothing for a release that is not ready (or gone)."""
    release = DatasetRelease.objects.filter(pk=release_id, status=DatasetRelease.Status.READY).first()
    if release is None:
        return []
    return [
        release_export_get(release=release, file_format=file_format)
        for file_format in release_formats(project=release.project)
        if file_format in EXPORT_FORMATS
    ]


def all_formats() -> list[str]:
    """Every download a release may offer: the stored files, then the derived ones."""
    return [*STORED_FORMATS, *EXPORT_FORMATS]


def release_formats(*, project) -> list[str]:
    """The downloads a ready release of `project` offers: CoNLL BIO only for span projects."""
    spans = project.task_type == TaskType.SPANS
    return [name for name in all_formats() if spans or name not in SPAN_FORMATS]
