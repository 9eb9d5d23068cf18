"""Reading a ZIP of media files and its manifest, as a stream. Pure Python, no ORM.

The ZIP's central directory is checked before any member is read (`ZipContents`): no absolute
path, no `..`, no backslash, no link, no encryption, no name used twice, no member over the
per-file limit, no more than the total limit in all, no more than the file-count limit. Sizes
are not trusted: a member is read in 1 MiB blocks and refused as soon as it passes its limit
(`member_read`), so a ZIP bomb whose headers lie costs at most the limit in memory.

The manifest is `manifest.csv`, `manifest.tsv`, `manifest.jsonl` or `manifest.json` at the ZIP's
root: one row per example with `file` (a path inside the ZIP), optional `id` (else the file's
SHA-256 names the example, so importing the same ZIP again adds nothing) and optional `text`
(a caption shown with the media); every other column becomes metadata, as in a text import.
"""

from __future__ import annotations

import csv
import json
import posixpath
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from projects.importing import (
    ImportLimits,
    RowError,
    StreamReader,
    encodable,
    json_type_name,
    metadata_builder,
)

MANIFEST_NAMES = {
    "manifest.csv": "csv",
    "manifest.tsv": "tsv",
    "manifest.jsonl": "jsonl",
    "manifest.json": "json",
}
IGNORED_PREFIXES = ("__MACOSX/",)
IGNORED_NAMES = (".DS_Store", "Thumbs.db")
READ_BLOCK = 1024 * 1024

# A manifest row: (line, external id or "" for "derive it from the content", file, text, metadata)
ManifestRow = tuple[int, str, str, str, str]


@dataclass(frozen=True)
class MediaLimits:
    max_file_bytes: int = 50 * 1024**2
    max_total_bytes: int = 20 * 1024**3
    max_files: int = 200_000


class ZipContents:
    """The members of an opened ZIP, checked; `errors` (RowError, line 0, the member named)."""

    def __init__(self, archive: zipfile.ZipFile, limits: MediaLimits):
        self.archive = archive
        self.limits = limits
        self.errors: list[RowError] = []
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.manifest: zipfile.ZipInfo | None = None
        self.manifest_format = ""
        self._check()

    def _error(self, name: str, message: str) -> None:
        self.errors.append(RowError(0, "file", f"{name!r} in the ZIP {message}"))

    def _check(self) -> None:
        total = 0
        manifests = []
        infos = self.archive.infolist()
        if len(infos) > self.limits.max_files + 10:
            self.errors.append(
                RowError(0, "", f"the ZIP holds {len(infos)} files; the limit is {self.limits.max_files}")
            )
            return
        for info in infos:
            name = info.filename
            if (
                info.is_dir()
                or name.startswith(IGNORED_PREFIXES)
                or posixpath.basename(name) in IGNORED_NAMES
            ):
                continue
            if not safe_member_name(name):
                self._error(name, "has an unsafe path (absolute, '..' or a backslash); nothing was read")
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                self._error(name, "is a symbolic link; only plain files are read")
                continue
            if info.flag_bits & 0x1:
                self._error(name, "is encrypted; Concord cannot read encrypted ZIPs")
                continue
            if name in self.members:
                self._error(name, "is there twice (a duplicate file name)")
                continue
            if info.file_size > self.limits.max_file_bytes:
                self._error(
                    name, f"is {info.file_size} bytes uncompressed; the limit is {self.limits.max_file_bytes}"
                )
                continue
            total += info.file_size
            self.members[name] = info
            if name in MANIFEST_NAMES:
                manifests.append(name)
        if total > self.limits.max_total_bytes:
            self.errors.append(
                RowError(
                    0,
                    "",
                    f"the ZIP holds {total} bytes uncompressed; the limit is {self.limits.max_total_bytes}",
                )
            )
        if len(manifests) > 1:
            self.errors.append(RowError(0, "", f"the ZIP has {len(manifests)} manifests; keep one of them"))
        elif not manifests:
            self.errors.append(
                RowError(
                    0,
                    "",
                    "the ZIP has no manifest: add manifest.csv (or .tsv, .jsonl, .json) at its root, "
                    "with a 'file' column naming each media file",
                )
            )
        else:
            self.manifest = self.members.pop(manifests[0])
            self.manifest_format = MANIFEST_NAMES[manifests[0]]

    def member_read(self, info: zipfile.ZipInfo) -> bytes:
        """The member's bytes; MemberTooLarge past the per-file limit, whatever its header said."""
        limit = self.limits.max_file_bytes
        parts = []
        size = 0
        with self.archive.open(info) as member:
            while block := member.read(READ_BLOCK):
                size += len(block)
                if size > limit:
                    raise MemberTooLarge(f"is over {limit} bytes uncompressed (the limit)")
                parts.append(block)
        return b"".join(parts)


class MemberTooLarge(Exception):
    pass


def safe_member_name(name: str) -> bool:
    """A relative POSIX path with no '..', no backslash, no drive, no NUL."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name.split("/", 1)[0]:
        return False
    return ".." not in name.split("/")


class ManifestReader(StreamReader):
    """The manifest's valid rows (CSV, TSV, JSONL or a JSON array); afterwards `errors` and
    `error_count`, as for a text import."""

    def __init__(self, file, file_format: str, limits: ImportLimits | None = None):
        super().__init__(file, limits)
        self.file_format = file_format

    def __iter__(self) -> Iterator[ManifestRow]:
        if self.file_format in ("csv", "tsv"):
            return self._delimited_rows("," if self.file_format == "csv" else "\t")
        values = self._json_lines() if self.file_format == "jsonl" else self._json_array_items()
        return self._object_rows(values)

    def _delimited_rows(self, delimiter: str) -> Iterator[ManifestRow]:
        reader = csv.reader(self._text_lines(newline=""), delimiter=delimiter, strict=True)
        header = self._delimited_header(reader, required=("file",))
        if header is None:
            return
        metadata_of = metadata_builder(header, exclude=("id", "file", "text"))
        previous = reader.line_num
        try:
            for row in reader:
                line, previous = previous + 1, reader.line_num
                if not row:
                    continue
                self.rows_read += 1
                if len(row) != len(header):
                    self.error(line, "", f"expected {len(header)} fields as in the header, found {len(row)}")
                    continue
                values = dict(zip(header, row, strict=True))
                checked = self._row(line, values.get("id"), values["file"], values.get("text", ""))
                if checked is not None:
                    yield (*checked, metadata_of(row))
        except csv.Error as exc:
            self.error(previous + 1, "", f"the row cannot be read ({exc}); check the quoting")
        if self.rows_read == 0 and not self.error_count:
            self.error(reader.line_num or 1, "", "the manifest has a header but no rows")

    def _object_rows(self, values) -> Iterator[ManifestRow]:
        for line, value in values:
            if not isinstance(value, dict):
                self.error(line, "", f"expected a JSON object, found {json_type_name(value)}")
                continue
            file, text, raw_id = value.get("file"), value.get("text", ""), value.get("id")
            if not isinstance(file, str):
                self.error(line, "file", "the object has no 'file' string naming a file in the ZIP")
                continue
            if not isinstance(text, str):
                self.error(line, "text", f"the text must be a string, not {json_type_name(text)}")
                continue
            if raw_id is not None and not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
                self.error(line, "id", f"the id must be a string or an integer, not {json_type_name(raw_id)}")
                continue
            checked = self._row(line, None if raw_id is None else str(raw_id), file, text)
            if checked is None:
                continue
            metadata = {k: v for k, v in value.items() if k not in ("id", "file", "text")}
            try:
                metadata_json = json.dumps(metadata, ensure_ascii=False, allow_nan=False)
            except ValueError:
                self.error(line, "", "the metadata contains NaN or Infinity, which JSON does not allow")
                continue
            if len(metadata_json) > self.limits.max_metadata_chars or not encodable(metadata_json):
                self.error(line, "", "the metadata is too long or holds a lone surrogate")
                continue
            yield (*checked, metadata_json)

    def _row(self, line: int, raw_id, file: str, text: str) -> tuple[int, str, str, str] | None:
        file = file.strip()
        if not file:
            self.error(line, "file", "the file name is empty")
            return None
        if not safe_member_name(file):
            self.error(line, "file", f"{file!r} is not a safe path inside the ZIP ('..', absolute or '\\')")
            return None
        external_id = ""
        if raw_id is not None:
            external_id = raw_id.strip()
            if not external_id:
                self.error(line, "id", "the id is empty")
                return None
            if len(external_id) > self.limits.max_id_chars:
                self.error(line, "id", f"the id is {len(external_id)} characters; the limit is 255")
                return None
        if len(text) > self.limits.max_text_chars or "\x00" in text or "\x00" in external_id:
            self.error(line, "text", "the text is too long or contains a NUL character")
            return None
        return (line, external_id, file, text)
