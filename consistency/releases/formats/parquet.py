"""A release as Parquet, one file per split, with the CSV's columns, typed.

external_id, text, label, source, split: strings; agreement: float64 (null when unknown);
n_raters: int64; guideline_versions: list<int64>; metadata: a struct with one typed field per
metadata key any example has (sorted by name); rationale (string) and raters (a list of
{rater, label}, sorted by rater) when the release's policy includes them. In a multi-label
release, label (and each rater's label) is a list<string> of label names. A span release has a
`spans` column after `label` (which holds the spans as one text): a list<struct<start: int64,
end: int64, label: string>> in code point offsets, empty for no entities; each rater's label
is such a list too.

A metadata field's type is what its values have in common: all booleans -> bool, all integers ->
int64, numbers -> float64, all strings -> string; anything else (mixed kinds, objects, lists,
integers beyond 64 bits) -> string, strings as they are and other values as JSON text. Missing
keys and JSON nulls are nulls. A release whose examples have no metadata at all has a null-typed
metadata column (Parquet cannot store a struct without fields).

Two passes over the lines, never all rows at once: the first finds the metadata types, the
second writes record batches of BATCH_ROWS rows per split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from consistency.releases.formats import SPLITS
from consistency.releases.policy import jsonb_text

BATCH_ROWS = 10_000  # rows per record batch, and so per Parquet row group
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if INT64_MIN <= value <= INT64_MAX else "other"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _field_type(kinds: set[str]) -> pa.DataType:
    kinds = kinds - {"null"}
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()  # strings, nothing but nulls, or a mixture: JSON text


class MetadataTypes:
    """Pass 1: the kinds of value each metadata key holds across the release."""

    def __init__(self) -> None:
        self.kinds: dict[str, set[str]] = {}

    def add(self, metadata: dict | None) -> None:
        for key, value in (metadata or {}).items():
            self.kinds.setdefault(key, set()).add(_kind(value))

    def arrow_type(self) -> pa.DataType:
        if not self.kinds:
            return pa.null()
        return pa.struct([pa.field(key, _field_type(self.kinds[key])) for key in sorted(self.kinds)])


SPANS_TYPE = pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string())]))


def release_schema(
    *,
    metadata_type: pa.DataType,
    include_rationale: bool,
    include_raters: bool,
    multi_label: bool = False,
    spans: bool = False,
) -> pa.Schema:
    """The columns of a release's Parquet files; a multi-label release's label (and each rater's)
    is a list of label names; a span release has its spans (and each rater's) as SPANS_TYPE."""
    label_type = pa.list_(pa.string()) if multi_label else pa.string()
    fields = [
        pa.field("external_id", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("label", label_type, nullable=False),
        *([pa.field("spans", SPANS_TYPE, nullable=False)] if spans else []),
        pa.field("source", pa.string()),
        pa.field("split", pa.string()),
        pa.field("agreement", pa.float64()),
        pa.field("n_raters", pa.int64()),
        pa.field("guideline_versions", pa.list_(pa.int64())),
        pa.field("metadata", metadata_type),
    ]
    if include_rationale:
        fields.append(pa.field("rationale", pa.string()))
    if include_raters:
        fields.append(
            pa.field(
                "raters",
                pa.list_(pa.struct([("rater", pa.string()), ("label", SPANS_TYPE if spans else label_type)])),
            )
        )
    return pa.schema(fields)


def _converter(metadata_type: pa.DataType) -> Callable[[dict | None], dict | None]:
    """The function turning a line's metadata into a value of the struct type."""
    if pa.types.is_null(metadata_type):
        return lambda metadata: None
    as_text = {
        field.name for field in metadata_type if pa.types.is_string(field.type)
    }  # values of string fields that are not strings go in as JSON text
    names = [field.name for field in metadata_type]

    def convert(metadata: dict | None) -> dict:
        metadata = metadata or {}
        row = {}
        for name in names:
            value = metadata.get(name)
            if name in as_text and value is not None and not isinstance(value, str):
                value = jsonb_text(value)
            row[name] = value
        return row

    return convert


class _Columns:
    """One split's rows waiting to be written, column by column (cheaper than a dict per row)."""

    def __init__(self, schema: pa.Schema, convert_metadata: Callable[[dict | None], dict | None]):
        self.schema = schema
        self.convert_metadata = convert_metadata
        self.rationale = "rationale" in schema.names
        self.raters = "raters" in schema.names
        self.spans = "spans" in schema.names
        self.clear()

    def clear(self) -> None:
        self.columns: dict[str, list] = {name: [] for name in self.schema.names}
        self.n = 0

    def add(self, line: dict) -> None:
        columns = self.columns
        for name in ("external_id", "text", "label", "source", "split", "agreement", "n_raters"):
            columns[name].append(line.get(name))
        if self.spans:
            columns["spans"].append(line.get("spans") or [])
        columns["guideline_versions"].append(line.get("guideline_versions") or [])
        columns["metadata"].append(self.convert_metadata(line.get("metadata")))
        if self.rationale:
            columns["rationale"].append(line.get("rationale"))
        if self.raters:
            raters = line.get("raters")
            columns["raters"].append(
                None if raters is None else [{"rater": r, "label": raters[r]} for r in sorted(raters)]
            )
        self.n += 1

    def batch(self) -> pa.RecordBatch:
        arrays = [pa.array(self.columns[field.name], type=field.type) for field in self.schema]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def parquet_write(
    lines: Iterable[dict], *, schema: pa.Schema, outputs: dict[str, IO[bytes]]
) -> dict[str, int]:
    """Pass 2: write each line into its split's file (`outputs[split]`), BATCH_ROWS at a time.
    Every split gets a file, an empty one too (the schema and no rows). Returns rows per split."""
    convert_metadata = _converter(schema.field("metadata").type)
    writers = {split: pq.ParquetWriter(outputs[split], schema) for split in SPLITS}
    pending = {split: _Columns(schema, convert_metadata) for split in SPLITS}
    counts = dict.fromkeys(SPLITS, 0)
    try:
        for line in lines:
            split = line["split"]
            rows = pending[split]
            rows.add(line)
            counts[split] += 1
            if rows.n >= BATCH_ROWS:
                writers[split].write_batch(rows.batch())
                rows.clear()
        for split, rows in pending.items():
            if rows.n:
                writers[split].write_batch(rows.batch())
    finally:
        for writer in writers.values():
            writer.close()
    return counts
