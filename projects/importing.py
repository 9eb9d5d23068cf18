"""Reading and validating an examples file (CSV, TSV, JSONL or a JSON array) as a stream.

Pure Python, no ORM: `ExampleFileReader` turns a binary file into validated rows and a list of
errors (line, column, message). It never holds the whole file in memory: CSV/TSV and JSONL are
read line by line (decoded by io.TextIOWrapper over 64 KiB blocks that are checked for NUL bytes
and over-long lines; on a bad byte the file is re-read slowly to name the exact line), and a
JSON array is decoded item by item with JSONDecoder.raw_decode over 64 KiB chunks.

Rules (the import's contract, also in the README):
- `text` is required and may not be empty or whitespace only; it is kept exactly as written
  (a leading `=`, `+`, `-` or `@` is stored as text, never evaluated).
- `id` is optional and becomes the example's external id (surrounding spaces removed; an int in
  JSON is fine). Without an id the external id is derived from the text: "sha1:" + the first
  16 hex digits of sha1(text), so importing the same file again does not duplicate examples.
- Every other column (CSV/TSV) or key (JSON) goes to the metadata; JSON values keep their type.
- The file must be UTF-8 (a BOM is allowed) without NUL bytes. JSON may nest at most
  MAX_JSON_DEPTH levels (a file nested deeper is refused with its line, never a crash).

`StreamReader` holds what every import file reader shares (errors, lines, JSON); the annotation
import (labeling.services.imports) builds its reader on it too.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring
from operator import itemgetter
from typing import BinaryIO, NamedTuple

FORMATS = ("csv", "tsv", "jsonl", "json")
MEDIA_FORMAT = "zip"  # a ZIP of images or audio plus a manifest (projects.media_zip)
UPLOAD_FORMATS = (*FORMATS, MEDIA_FORMAT)
EXTENSIONS = {
    ".zip": MEDIA_FORMAT,
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
MAX_ERRORS_KEPT = 50
CHUNK_BYTES = 64 * 1024
MAX_JSON_DEPTH = 64  # far beyond any real metadata; deeper input is refused before it can recurse
NESTED_TOO_DEEPLY = f"the JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels)"

# A row as the reader yields it, in the order of the staging table's columns. Rows are plain
# tuples (not RowError-like objects) because a million of them pass through the hot loop.
Row = tuple[int, str, str, str]  # (line, external_id, text, metadata as a JSON object string)


class RowError(NamedTuple):
    line: int
    column: str  # the header name or JSON key; "" when the problem is not in one column
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ImportLimits:
    max_text_chars: int = 20_000
    max_id_chars: int = 255
    max_metadata_chars: int = 10_000

    @property
    def max_line_bytes(self) -> int:
        # Generous: the largest valid row with every character escaped as \uXXXX, plus slack.
        row_chars = self.max_text_chars + self.max_id_chars + self.max_metadata_chars
        return max(1024 * 1024, 6 * row_chars + 4096)


def format_from_name(name: str) -> str | None:
    """The format implied by a file name's extension, or None."""
    lowered = name.lower()
    for extension, file_format in EXTENSIONS.items():
        if lowered.endswith(extension):
            return file_format
    return None


def derived_external_id(text: str) -> str:
    """The stable id of a row without one: the same text always gets the same id."""
    return "sha1:" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]  # noqa: S324


def is_derived_external_id(external_id: str) -> bool:
    return len(external_id) == 21 and external_id.startswith("sha1:")


def json_type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class StreamReader:
    """What every import file reader shares: errors (first 50 kept, all counted), physical lines
    read as a stream, CSV headers, and JSON values line by line or item by item.

    Errors are collected on the reader rather than yielded between rows, which keeps the loop
    over a million rows free of type checks. A problem that makes the rest of the file
    unreadable (bad encoding, NUL byte, broken quoting, bad header) is recorded and ends the
    iteration; row-level problems are recorded and reading goes on, so every error is counted.
    """

    def __init__(self, file: BinaryIO, limits: ImportLimits | None = None):
        self.file = file
        self.limits = limits or ImportLimits()
        self.errors: list[RowError] = []
        self.error_count = 0
        self.rows_read = 0  # data rows seen, valid or not
        self._start = file.tell()

    @property
    def bytes_read(self) -> int:
        return self.file.tell()

    def error(self, line: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(RowError(line, column, message))

    def error_first(self, line: int, column: str, message: str) -> None:
        """A problem with the whole file: counted, and kept ahead of the row errors."""
        self.error_count += 1
        self.errors.insert(0, RowError(line, column, message))
        del self.errors[MAX_ERRORS_KEPT:]

    # -- physical lines -------------------------------------------------------------------

    def _text_lines(self, newline: str) -> io.TextIOWrapper:
        """The file as lines of text, split and decoded in C (the fast path).

        A NUL byte, an over-long line or invalid UTF-8 raises _Unreadable or UnicodeDecodeError
        from the iteration; `_diagnose_unreadable` then finds and reports the exact line.
        """
        guarded = io.BufferedReader(_GuardedStream(self.file, self.limits.max_line_bytes), CHUNK_BYTES)
        return io.TextIOWrapper(guarded, encoding="utf-8-sig", errors="strict", newline=newline)

    def _diagnose_unreadable(self) -> None:
        """Re-read the file line by line (slowly) to name the first line that cannot be read."""
        self.file.seek(self._start)
        before = self.error_count
        for _ in self._lines():
            pass
        if self.error_count == before:
            self.error(1, "", "the file cannot be read as UTF-8 text")

    def _lines(self) -> Iterator[str]:
        """Decoded lines with their line endings; stops at the first unreadable line."""
        readline = self.file.readline
        max_bytes = self.limits.max_line_bytes
        number = 0
        while True:
            raw = readline(max_bytes)
            if not raw:
                return
            number += 1
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            if b"\x00" in raw:
                self.error(number, "", "contains a NUL byte: this is not a UTF-8 text file (UTF-16?)")
                return
            if len(raw) >= max_bytes and not raw.endswith(b"\n"):
                self.error(number, "", f"the line is longer than {max_bytes} bytes")
                return
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.error(number, "", _decode_error_message(raw, exc))
                return

    # -- CSV and TSV ----------------------------------------------------------------------

    def _delimited_header(self, reader, required: tuple[str, ...]) -> list[str] | None:
        """Read and check the header of a csv.reader over `_text_lines`; None (and errors) if bad."""
        try:
            header = next(reader, None)
        except csv.Error as exc:
            self.error(1, "", f"the header cannot be read: {exc}")
            return None
        except (UnicodeDecodeError, _Unreadable):
            self._diagnose_unreadable()
            return None
        if header is None:
            if not self.error_count:
                self.error(1, "", "the file is empty")
            return None
        header = [name.strip() for name in header]
        if not any(header):
            self.error(reader.line_num, "", "the header is empty: the first line must name the columns")
            return None
        line = reader.line_num
        ok = True
        seen: set[str] = set()
        for position, name in enumerate(header, start=1):
            if not name:
                self.error(line, f"#{position}", f"column {position} has an empty name in the header")
                ok = False
            elif name in seen:
                self.error(line, name, f"the header names the column {name!r} twice")
                ok = False
            seen.add(name)
        for name in required:
            if name not in seen:
                found = ", ".join(repr(name) for name in header[:10])
                self.error(line, name, f"the header has no {name!r} column (found {found})")
                ok = False
        return header if ok else None

    # -- JSON -----------------------------------------------------------------------------

    def _json_checked(self, line: int, value):
        """`value`, or _INVALID (and an error) when it nests deeper than MAX_JSON_DEPTH."""
        if isinstance(value, dict | list) and _nested_too_deeply(value):
            self.error(line, "", NESTED_TOO_DEEPLY)
            return _INVALID
        return value

    def _json_lines(self) -> Iterator[tuple[int, object]]:
        """(line, value) for each non-blank line of a JSON Lines file; bad lines become errors."""
        loads = json.loads
        seen_content = False
        try:
            for line, content in enumerate(self._text_lines(newline="\n"), start=1):
                if not content or content.isspace():
                    continue
                seen_content = True
                self.rows_read += 1
                try:
                    value = loads(content)
                except json.JSONDecodeError as exc:
                    self.error(line, "", f"invalid JSON at character {exc.colno}: {exc.msg}")
                    continue
                except RecursionError:
                    self.error(line, "", NESTED_TOO_DEEPLY)
                    continue
                value = self._json_checked(line, value)
                if value is not _INVALID:
                    yield line, value
        except (UnicodeDecodeError, _Unreadable):
            self._diagnose_unreadable()
        if not seen_content and not self.error_count:
            self.error(1, "", "the file is empty")

    def _json_array_items(self) -> Iterator[tuple[int, object]]:
        """(line where the item starts, value) for each item of a top-level JSON array."""
        stream = _JsonArrayStream(self)
        items = 0
        for line, value in stream.items():
            items += 1
            self.rows_read += 1
            value = self._json_checked(line, value)
            if value is not _INVALID:
                yield line, value
        if items == 0 and not self.error_count:
            self.error(stream.line_at(stream.pos), "", "the array is empty: there are no rows")


_INVALID = object()


def _nested_too_deeply(value, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a decoded JSON value nests containers deeper than `limit` (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class ExampleFileReader(StreamReader):
    """Iterate over an examples file's valid rows; afterwards `errors` (first 50) and
    `error_count` (all)."""

    def __init__(self, file: BinaryIO, file_format: str, limits: ImportLimits | None = None):
        if file_format not in FORMATS:
            raise ValueError(f"unknown format {file_format!r}")
        super().__init__(file, limits)
        self.file_format = file_format
        self.used_derived_ids = False

    def __iter__(self) -> Iterator[Row]:
        if self.file_format in ("csv", "tsv"):
            return self._delimited_rows("," if self.file_format == "csv" else "\t")
        if self.file_format == "jsonl":
            return self._jsonl_rows()
        return self._json_array_rows()

    # -- CSV and TSV ----------------------------------------------------------------------

    def _delimited_rows(self, delimiter: str) -> Iterator[Row]:
        reader = csv.reader(self._text_lines(newline=""), delimiter=delimiter, strict=True)
        header = self._delimited_header(reader, required=("text",))
        if header is None:
            return
        n_fields = len(header)
        text_index = header.index("text")
        id_index = header.index("id") if "id" in header else None
        metadata_of = metadata_builder(header, exclude=("id", "text"))
        max_text, max_id, max_metadata = (
            self.limits.max_text_chars,
            self.limits.max_id_chars,
            self.limits.max_metadata_chars,
        )
        error = self.error
        sha1 = hashlib.sha1
        self.used_derived_ids = id_index is None
        previous_line = reader.line_num
        rows_read = 0
        try:
            for row in reader:
                line = previous_line + 1  # a quoted value may span lines: report where the row starts
                previous_line = reader.line_num
                if len(row) != n_fields:
                    if not row:  # a blank line
                        continue
                    rows_read += 1
                    error(line, "", f"expected {n_fields} fields as in the header, found {len(row)}")
                    continue
                rows_read += 1
                text = row[text_index]
                if not text or text.isspace():
                    error(line, "text", "the text is empty")
                    continue
                if len(text) > max_text:
                    error(line, "text", f"the text is {len(text)} characters; the limit is {max_text}")
                    continue
                if id_index is None:
                    external_id = "sha1:" + sha1(text.encode()).hexdigest()[:16]
                else:
                    external_id = row[id_index].strip()
                    if not external_id:
                        error(line, "id", "the id is empty")
                        continue
                    if len(external_id) > max_id:
                        error(line, "id", f"the id is {len(external_id)} characters; the limit is {max_id}")
                        continue
                metadata = metadata_of(row)
                if len(metadata) > max_metadata:
                    error(line, "", f"the metadata is {len(metadata)} characters; limit {max_metadata}")
                    continue
                yield (line, external_id, text, metadata)
        except csv.Error as exc:
            rows_read += 1
            self.error(previous_line + 1, "", f"the row cannot be read ({exc}); check the quoting")
        except (UnicodeDecodeError, _Unreadable):
            self._diagnose_unreadable()
        finally:
            self.rows_read = rows_read
        if rows_read == 0 and not self.error_count:
            self.error(reader.line_num or 1, "", "the file has a header but no rows")

    # -- JSON Lines and JSON arrays ---------------------------------------------------------

    def _jsonl_rows(self) -> Iterator[Row]:
        row_of = self._object_row
        for line, value in self._json_lines():
            row = row_of(line, value)
            if row is not None:
                yield row

    def _object_row(self, line: int, value) -> Row | None:
        """Validate one JSON object; None (and an error) if it is not a valid row."""
        if not isinstance(value, dict):
            self.error(line, "", f"expected a JSON object, found {json_type_name(value)}")
            return None
        text = value.get("text")
        if "text" not in value:
            self.error(line, "text", "the object has no 'text' key")
            return None
        if not isinstance(text, str):
            self.error(line, "text", f"the text must be a string, not {json_type_name(text)}")
            return None
        if not text or text.isspace():
            self.error(line, "text", "the text is empty")
            return None
        if len(text) > self.limits.max_text_chars:
            limit = self.limits.max_text_chars
            self.error(line, "text", f"the text is {len(text)} characters; the limit is {limit}")
            return None
        if "\x00" in text:
            self.error(line, "text", "the text contains a NUL character")
            return None
        raw_id = value.get("id")
        if raw_id is None:
            external_id = derived_external_id(text)
            self.used_derived_ids = True
        elif isinstance(raw_id, str) or (isinstance(raw_id, int) and not isinstance(raw_id, bool)):
            external_id = str(raw_id).strip()
            if not external_id:
                self.error(line, "id", "the id is empty")
                return None
            if len(external_id) > self.limits.max_id_chars:
                self.error(
                    line,
                    "id",
                    f"the id is {len(external_id)} characters; the limit is {self.limits.max_id_chars}",
                )
                return None
            if "\x00" in external_id:
                self.error(line, "id", "the id contains a NUL character")
                return None
        else:
            self.error(line, "id", f"the id must be a string or an integer, not {json_type_name(raw_id)}")
            return None
        metadata = {key: item for key, item in value.items() if key != "id" and key != "text"}
        try:
            metadata_json = json.dumps(metadata, ensure_ascii=False, allow_nan=False) if metadata else "{}"
        except ValueError:
            self.error(line, "", "the metadata contains NaN or Infinity, which JSON does not allow")
            return None
        if len(metadata_json) > self.limits.max_metadata_chars:
            self.error(
                line,
                "",
                f"the metadata is {len(metadata_json)} characters; limit {self.limits.max_metadata_chars}",
            )
            return None
        if "\\u0000" in metadata_json:
            self.error(line, "", "the metadata contains a NUL character")
            return None
        for column, content in (("text", text), ("id", external_id), ("", metadata_json)):
            if not encodable(content):
                self.error(line, column, "contains a \\u escape that is not a character (a lone surrogate)")
                return None
        return (line, external_id, text, metadata_json)

    def _json_array_rows(self) -> Iterator[Row]:
        row_of = self._object_row
        for line, value in self._json_array_items():
            row = row_of(line, value)
            if row is not None:
                yield row


class _Unreadable(Exception):
    """The bytes cannot be text lines: a NUL byte or a line over the length limit."""


class _GuardedStream(io.RawIOBase):
    """The file as a raw stream that refuses NUL bytes and over-long lines (checked per block)."""

    def __init__(self, file: BinaryIO, max_line_bytes: int):
        self.file = file
        self.max_line_bytes = max_line_bytes
        self.since_newline = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.file.read(len(buffer))
        if b"\x00" in data:
            raise _Unreadable("NUL byte")
        newline = data.rfind(b"\n")
        self.since_newline = self.since_newline + len(data) if newline < 0 else len(data) - newline - 1
        if self.since_newline > self.max_line_bytes:
            raise _Unreadable("line too long")
        buffer[: len(data)] = data
        return len(data)


class _JsonArrayStream:
    """Decode `[ {...}, {...} ]` item by item with JSONDecoder.raw_decode over 64 KiB chunks."""

    WHITESPACE = " \t\r\n"

    def __init__(self, reader: StreamReader):
        self.reader = reader
        self.decoder = json.JSONDecoder()
        self.utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        # Line numbers are counted incrementally: `cursor_line` is the line of buf[cursor].
        self.cursor = 0
        self.cursor_line = 1
        self.eof = False
        self.first_chunk = True
        self.max_item_chars = reader.limits.max_line_bytes

    def line_at(self, index: int) -> int:
        """The line number at buf[index]; indexes only move forward."""
        if index > self.cursor:
            self.cursor_line += self.buf.count("\n", self.cursor, index)
            self.cursor = index
        return self.cursor_line

    def fill(self) -> bool:
        """Append the next chunk to the buffer; False at the end of the file or on a fatal error."""
        if self.eof:
            return False
        raw = self.reader.file.read(CHUNK_BYTES)
        if self.first_chunk:
            self.first_chunk = False
            if raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
        if self.pos > CHUNK_BYTES:  # drop what has been parsed, keeping line numbers right
            self.line_at(self.pos)
            self.buf = self.buf[self.pos :]
            self.pos = 0
            self.cursor = 0
        try:
            if b"\x00" in raw:
                good = raw[: raw.index(b"\x00")]
                text = self.utf8.decode(good, final=False)
                line = self.line_at(len(self.buf)) + text.count("\n")
                self.reader.error(line, "", "contains a NUL byte: this is not a UTF-8 text file (UTF-16?)")
                self.eof = True
                return False
            text = self.utf8.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            prefix = raw[: exc.start].decode("utf-8", "ignore")
            line = self.line_at(len(self.buf)) + prefix.count("\n")
            byte = exc.object[exc.start : exc.start + 1].hex()
            self.reader.error(line, "", f"byte 0x{byte} is not valid UTF-8; save the file as UTF-8")
            self.eof = True
            return False
        if not raw:
            self.eof = True
            return False
        self.buf += text
        return True

    def skip_whitespace(self) -> bool:
        """Move past whitespace; False if the file ended."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in self.WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return True
            if not self.fill():
                return False

    def items(self) -> Iterator[tuple[int, object]]:
        error = self.reader.error
        if not self.skip_whitespace():
            if not self.reader.error_count:
                error(1, "", "the file is empty")
            return
        if self.buf[self.pos] != "[":
            error(
                self.line_at(self.pos),
                "",
                "a .json file must be an array of objects ([{...}, {...}]); "
                "use .jsonl for one object per line",
            )
            return
        self.pos += 1
        expect_item = True  # after "[" or ","
        first = True
        while True:
            if not self.skip_whitespace():
                if not self.reader.error_count:
                    error(self.line_at(self.pos), "", "the file ends before the array is closed with ]")
                return
            char = self.buf[self.pos]
            if char == "]" and (first or not expect_item):
                self.pos += 1
                if self.skip_whitespace():
                    error(self.line_at(self.pos), "", "unexpected data after the end of the array")
                return
            if not expect_item:
                if char != ",":
                    error(self.line_at(self.pos), "", "expected ',' or ']' after an item of the array")
                    return
                self.pos += 1
                expect_item = True
                continue
            value, ok = self.decode_item()
            if not ok:
                return
            yield value
            expect_item = False
            first = False

    def decode_item(self) -> tuple[tuple[int, object] | None, bool]:
        while True:
            start = self.pos
            try:
                value, end = self.decoder.raw_decode(self.buf, start)
            except RecursionError:
                self.reader.error(self.line_at(start), "", NESTED_TOO_DEEPLY)
                return None, False
            except json.JSONDecodeError as exc:
                too_large = len(self.buf) - start >= self.max_item_chars
                errors_before = self.reader.error_count
                if not too_large and self.fill():
                    continue  # probably an item cut in two by the chunk boundary
                if self.reader.error_count > errors_before:
                    return None, False  # fill() reported a bad byte
                if too_large:
                    message = f"an item is longer than {self.max_item_chars} characters or is not valid JSON"
                    self.reader.error(self.line_at(start), "", message)
                else:
                    self.reader.error(self.line_at(exc.pos), "", f"invalid JSON: {exc.msg}")
                return None, False
            if end == len(self.buf) and not isinstance(value, dict | list | str) and self.fill():
                continue  # a number or literal at the buffer's end may continue in the next chunk
            line = self.line_at(start)
            self.pos = end
            return (line, value), True


def encodable(value: str) -> bool:
    """False for strings a database cannot store: JSON \\ud800-style escapes of half a character."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def metadata_builder(header: list[str], exclude: tuple[str, ...]):
    """A fast function from a CSV row to its metadata as a JSON object string."""
    columns = [(index, name) for index, name in enumerate(header) if name not in exclude]
    if not columns:
        return lambda row: "{}"
    keys = [encode_basestring(name).replace("%", "%%") for _, name in columns]
    template = "{" + ", ".join(key + ": %s" for key in keys) + "}"
    if len(columns) == 1:
        index = columns[0][0]
        return lambda row: template % encode_basestring(row[index])
    values_of = itemgetter(*(index for index, _ in columns))
    return lambda row: template % tuple(map(encode_basestring, values_of(row)))


def _decode_error_message(raw: bytes, exc: UnicodeDecodeError) -> str:
    byte = raw[exc.start : exc.start + 1].hex()
    position = len(raw[: exc.start].decode("utf-8", "ignore")) + 1
    return f"byte 0x{byte} at character {position} is not valid UTF-8; save the file as UTF-8"
