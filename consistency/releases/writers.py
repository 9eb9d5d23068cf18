"""The release file writers (pure, no ORM): one per format, used on every database, fed batches of
release rows in external id order, all formats in one pass.

A release row is a tuple in this order, every JSON value already in PostgreSQL's jsonb text form
(policy.jsonb_text), so a writer only joins strings:

    external_id, text, label, source, split,
    agreement   the 4-decimal text ("0.6667"), or None
    n_raters    its digits
    guideline_versions, metadata   JSON text
    rationale   text or None
    raters      JSON text or None
    labels      a multi-label item's label names, JSON text (a list), or None; `label` then
                holds the names joined by "|"
    spans       a span item's spans, JSON text (a list of {"start", "end", "label"} objects,
                code point offsets), or None; `label` then holds policy.spans_label_text

A span release's JSONL lines carry `spans` (spaCy's shape) next to `label`, and its CSV has a
`spans` column after `label` with the same JSON list.

The JSONL lines are the canonical bytes (PostgreSQL's `jsonb_build_object(...)::text`, keys in
jsonb order). The CSV keeps the bytes each database always produced: PostgreSQL's COPY dialect
there (LF line ends, an empty text quoted, a missing value not), RFC 4180 CRLF lines elsewhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from json.encoder import encode_basestring  # the C encoder: json.dumps(s, ensure_ascii=False)
from typing import IO

from consistency.releases.policy import CSV_COLUMNS, FORMULA_STARTS

Row = tuple  # see the module docstring
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
_CSV_SPECIAL = re.compile('[",\r\n]').search


class HashingSink:
    """Counts, hashes (SHA-256) and passes on the bytes written to a binary file."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.digest.update(data)
        self.size += len(data)
        self.handle.write(data)

    def hexdigest(self) -> str:
        return self.digest.hexdigest()


class JsonlWriter:
    """One canonical JSON object per line."""

    def __init__(self, out: HashingSink, *, include_rationale: bool, include_raters: bool):
        self.out = out
        self.include_rationale = include_rationale
        self.include_raters = include_raters
        self._labels: dict[str, str] = {}

    def start(self) -> None:
        pass

    def write_rows(self, rows: Sequence[Row]) -> None:
        enc = encode_basestring
        rationale_on, raters_on = self.include_rationale, self.include_raters
        labels = self._labels  # a release has few labels: each is encoded once
        lines = []
        for (
            eid,
            text,
            label,
            source,
            split,
            agreement,
            n_raters,
            versions,
            metadata,
            rationale,
            raters,
            label_list,
            spans,
        ) in rows:
            # A multi-label item's "label" is the list of its names; a single label's, its name; a
            # span item's, its spans as one text (nearly each its own: not cached).
            label_json = label_list or (enc(label) if spans is not None else labels.get(label))
            if label_json is None:
                label_json = labels[label] = enc(label)
            # Keys in jsonb's order: by length, then bytes.
            lines.append(
                f'{{"text": {enc(text)}, "label": {label_json}, '
                + (f'"spans": {spans}, ' if spans is not None else "")
                + f'"split": "{split}", '
                + (f'"raters": {raters or "null"}, ' if raters_on else "")
                + f'"source": "{source}", "metadata": {metadata}, "n_raters": {n_raters}, '
                f'"agreement": {agreement or "null"}, '
                + (
                    f'"rationale": {"null" if rationale is None else enc(rationale)}, '
                    if rationale_on
                    else ""
                )
                + f'"external_id": {enc(eid)}, "guideline_versions": {versions}}}\n'
            )
        self.out.write("".join(lines).encode())

    def finish(self) -> None:
        pass


class CsvWriter:
    """A header, then one row per item; a cell a spreadsheet would run as a formula gets a quote.

    Cells are quoted by hand, as the csv module (RFC 4180 dialect: a cell holding a comma, quote,
    CR or LF is quoted, quotes doubled) or COPY (the same, and an empty text quoted too) would:
    twice as fast as csv.writer, and the only way to quote one empty cell but not another.
    """

    def __init__(
        self,
        out: HashingSink,
        *,
        include_rationale: bool,
        include_raters: bool,
        copy_dialect: bool,
        spans: bool = False,
    ):
        self.out = out
        self.spans = spans
        self.include_rationale = include_rationale
        self.include_raters = include_raters
        self.copy_dialect = copy_dialect
        self.line_end = "\n" if copy_dialect else "\r\n"
        self._labels: dict[str, str] = {}
        self._versions: dict[str, str] = {}

    def start(self) -> None:
        columns = list(CSV_COLUMNS)
        if self.spans:
            columns.insert(columns.index("label") + 1, "spans")
        if self.include_rationale:
            columns.append("rationale")
        if self.include_raters:
            columns.append("raters")
        self.out.write((",".join(columns) + self.line_end).encode())

    def write_rows(self, rows: Sequence[Row]) -> None:
        first, special = _FORMULA_FIRST, _CSV_SPECIAL
        empty_text = '""' if self.copy_dialect else ""
        rationale_on, raters_on, line_end = self.include_rationale, self.include_raters, self.line_end

        def cell(value: str) -> str:
            """A text cell: formula-escaped, then quoted if it must be."""
            if not value:
                return empty_text
            if value[0] in first:
                value = "'" + value
            return '"' + value.replace('"', '""') + '"' if special(value) else value

        def quoted(value: str) -> str:
            return '"' + value.replace('"', '""') + '"'

        labels = self._labels  # a release has few labels: each is escaped once
        version_cells = self._versions  # ... and few lists of guideline versions
        lines = []
        for (
            eid,
            text,
            label,
            source,
            split,
            agreement,
            n_raters,
            versions,
            metadata,
            rationale,
            raters,
            _,
            spans,
        ) in rows:
            # A multi-label item's label cell is its names joined by "|", held in `label`; a span
            # item's is its spans as one text, with the JSON list in the next cell.
            # Most cells need nothing: they are checked inline, and only the others go through cell().
            if spans is not None:
                label_cell = f"{cell(label)},{quoted(spans) if special(spans) else spans}"
            else:
                label_cell = labels.get(label)
                if label_cell is None:
                    label_cell = labels[label] = cell(label)
            versions_cell = version_cells.get(versions)
            if versions_cell is None:
                versions_cell = version_cells[versions] = quoted(versions) if special(versions) else versions
            # A text that is no formula is quoted here if it must be (a text with a quote: quoted
            # without a search); the others go through cell(). Metadata with a key has a quote.
            if text and text[0] not in first:
                if '"' in text:
                    text = '"' + text.replace('"', '""') + '"'
                elif special(text):
                    text = '"' + text + '"'
            else:
                text = cell(text)
            if '"' in metadata or special(metadata):
                metadata = quoted(metadata)
            line = (
                f"{eid if eid and eid[0] not in first and not special(eid) else cell(eid)},{text},"
                f"{label_cell},{source},{split},{agreement or ''},{n_raters},{versions_cell},{metadata}"
            )
            if rationale_on:
                line += "," + ("" if rationale is None else cell(rationale))
            if raters_on:
                line += "," + ("" if raters is None else quoted(raters) if special(raters) else raters)
            lines.append(line + line_end)
        self.out.write("".join(lines).encode())

    def finish(self) -> None:
        pass
