"""A release's media: which file each released example shows, and the release with its media as
one streamed ZIP.

The release's JSONL and CSV stay as they are (byte-stable; a text project's files are untouched):
for a project with images or audio, `media.jsonl` lists, per released example, its external id,
label, split, the file's original name in the imported ZIP, its SHA-256, type and size. The ZIP
holds that list, the release's JSONL and each media file once (media/<sha256>.<ext>), written
as a stream (ZIP data descriptors, no seeking): the response starts at once and never holds more
than one 1 MiB block in memory, however large the release. Media files never change (named by
their content, never updated by a re-import) and a release never changes, so neither does this.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator

from django.core.files.storage import default_storage

from consistency.releases.models import DatasetRelease, DatasetReleaseItem

READ_BLOCK = 1024 * 1024
ZIP_DATE = (2000, 1, 1, 0, 0, 0)  # fixed, so the same release always gives the same bytes
MEDIA_FIELDS = (
    "external_id",
    "label",
    "split",
    "example__media_name",
    "example__media_sha256",
    "example__media_type",
    "example__media_bytes",
    "example__media_file",
)
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
}


def release_has_media(*, release: DatasetRelease) -> bool:
    return _media_items(release).exists()


def _media_items(release: DatasetRelease):
    return (
        DatasetReleaseItem.objects.filter(release=release, example__isnull=False)
        .exclude(example__media_file="")
        .order_by("external_id")
    )


def release_media_rows(*, release: DatasetRelease) -> Iterator[tuple]:
    return _media_items(release).values_list(*MEDIA_FIELDS).iterator(chunk_size=2000)


def media_zip_path(sha256: str, media_type: str) -> str:
    return f"media/{sha256}.{EXTENSIONS.get(media_type, 'bin')}"


def release_media_manifest_lines(*, release: DatasetRelease) -> Iterator[bytes]:
    """media.jsonl: one line per released example with media, in external-id order."""
    for external_id, label, split, name, sha256, media_type, size, _ in release_media_rows(release=release):
        yield (
            json.dumps(
                {
                    "id": external_id,
                    "label": label,
                    "split": split,
                    "file": name,
                    "sha256": sha256,
                    "content_type": media_type,
                    "bytes": size,
                    "path": media_zip_path(sha256, media_type),
                },
                ensure_ascii=False,
            )
            + "\n"
        ).encode()


class _Sink:
    """An unseekable file for ZipFile: collects what it writes until `take()`."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data) -> int:
        data = bytes(data)
        self.parts.append(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _copy(archive: zipfile.ZipFile, sink: _Sink, arcname: str, blocks: Iterator[bytes]) -> Iterator[bytes]:
    info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED  # images and audio are compressed already
    with archive.open(info, "w", force_zip64=True) as out:
        for block in blocks:
            out.write(block)
            if sink.parts:
                yield sink.take()
    yield sink.take()


def _file_blocks(name: str) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        yield from iter(lambda: handle.read(READ_BLOCK), b"")


def release_media_zip_stream(*, release: DatasetRelease) -> Iterator[bytes]:
    """The release with its media, as the bytes of a ZIP, block by block."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, "w")
    slug, tag = release.project.slug, release.tag
    yield from _copy(archive, sink, "media.jsonl", release_media_manifest_lines(release=release))
    yield from _copy(archive, sink, f"{slug}-{tag}.jsonl", _file_blocks(release.jsonl_file))
    written: set[str] = set()
    for *_, sha256, media_type, _size, stored in release_media_rows(release=release):
        path = media_zip_path(sha256, media_type)
        if path in written:
            continue
        written.add(path)
        yield from _copy(archive, sink, path, _file_blocks(stored))
    archive.close()
    yield sink.take()
