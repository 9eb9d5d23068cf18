"""Reading gold-label and model-prediction files (CSV, TSV, JSONL or a JSON array) as a stream.

Pure Python, no ORM, built on projects.importing.StreamReader (errors with line and column, the
same encoding, line-length and nesting checks as every import). The caller passes what the
project knows (its examples' external ids and its label names), so every problem a row can have
is found here and named by line and column; the services write nothing unless the file is clean.

Gold: `example_id,label`. One example given two different labels is refused on the second line;
the same label twice is fine.

Predictions: `example_id`, `label` (optional when probabilities are given: the most probable
label then), optional `score` (any number), optional per-label probabilities as `p_<label>`
columns (JSON: `p_<label>` keys, or a `probabilities` object {label: p}). Probabilities must lie
in [0, 1], name every label of the project, and sum to 1 within 1e-3.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from projects.importing import FORMATS, ImportLimits, StreamReader, _Unreadable, json_type_name

PROBABILITY_TOLERANCE = 1e-3

GoldRow = tuple[int, int, str]  # (line, example id, label name)
# (line, example id, label name, score or None, probabilities in label order or None)
PredictionRow = tuple[int, int, str, float | None, list[float] | None]


class _ReferenceReader(StreamReader):
    required: tuple[str, ...] = ("example_id",)

    def __init__(
        self,
        file: BinaryIO,
        file_format: str,
        *,
        examples: Mapping[str, int],
        labels: list[str],
        limits: ImportLimits | None = None,
    ):
        if file_format not in FORMATS:
            raise ValueError(f"unknown format {file_format!r}")
        super().__init__(file, limits)
        self.file_format = file_format
        self.examples = examples
        self.labels = labels
        self.label_set = set(labels)

    def __iter__(self):
        if self.file_format in ("csv", "tsv"):
            return self._delimited(",", "\t")
        items = self._json_lines() if self.file_format == "jsonl" else self._json_array_items()
        return self._objects(items)

    def _delimited(self, comma: str, tab: str) -> Iterator:
        delimiter = comma if self.file_format == "csv" else tab
        reader = csv.reader(self._text_lines(newline=""), delimiter=delimiter, strict=True)
        header = self._delimited_header(reader, required=self.required)
        if header is None:
            return
        if not self._header_ok(header, reader.line_num):
            return
        try:
            for values in reader:
                line = reader.line_num
                if not values or all(not v.strip() for v in values):
                    continue
                self.rows_read += 1
                if len(values) != len(header):
                    self.error(line, "", f"the row has {len(values)} fields; the header names {len(header)}")
                    continue
                row = self._row(line, dict(zip(header, values, strict=True)), from_text=True)
                if row is not None:
                    yield row
        except csv.Error as exc:
            self.error(reader.line_num, "", f"the file cannot be read as {self.file_format.upper()}: {exc}")
        except (UnicodeDecodeError, _Unreadable):
            self._diagnose_unreadable()

    def _objects(self, items) -> Iterator:
        for line, value in items:
            if not isinstance(value, dict):
                self.error(line, "", f"each row must be a JSON object, not {json_type_name(value)}")
                continue
            missing = [name for name in self.required if name not in value]
            if missing:
                self.error(line, missing[0], f"the row has no {missing[0]!r}")
                continue
            row = self._row(line, value, from_text=False)
            if row is not None:
                yield row

    def _header_ok(self, header: list[str], line: int) -> bool:
        return True

    def _example(self, line: int, value) -> int | None:
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.error(
                line,
                "example_id",
                f"the example_id must be a string or an integer, not {json_type_name(value)}",
            )
            return None
        external_id = str(value).strip()
        if not external_id:
            self.error(line, "example_id", "the example_id is empty")
            return None
        example = self.examples.get(external_id)
        if example is None:
            self.error(line, "example_id", f"no example of this project has the id {external_id[:100]!r}")
        return example

    def _label(self, line: int, value, column: str = "label") -> str | None:
        if not isinstance(value, str):
            self.error(line, column, f"the {column} must be a string, not {json_type_name(value)}")
            return None
        name = value.strip()
        if name not in self.label_set:
            self.error(line, column, f"{name[:100]!r} is not a label of this project")
            return None
        return name


class GoldFileReader(_ReferenceReader):
    """Yields (line, example id, label name) of a gold file's valid rows; conflicts are errors."""

    required = ("example_id", "label")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._seen: dict[int, tuple[str, int]] = {}

    def _row(self, line: int, values: dict, *, from_text: bool) -> GoldRow | None:
        example = self._example(line, values["example_id"])
        label = self._label(line, values["label"])
        if example is None or label is None:
            return None
        earlier = self._seen.get(example)
        if earlier is not None:
            if earlier[0] != label:
                self.error(
                    line,
                    "label",
                    f"example {str(values['example_id']).strip()!r} is given {label!r} here "
                    f"and {earlier[0]!r} on line {earlier[1]}",
                )
            return None
        self._seen[example] = (label, line)
        return line, example, label


class PredictionFileReader(_ReferenceReader):
    """Yields (line, example id, label name, score, probabilities) of a prediction file's rows."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._seen: dict[int, int] = {}
        self.has_probabilities: bool | None = None  # decided by the header or the first row

    def _header_ok(self, header: list[str], line: int) -> bool:
        known = {"example_id", "label", "score"} | {f"p_{name}" for name in self.labels}
        ok = True
        for name in header:
            if name not in known:
                what = (
                    "no label of this project"
                    if name.startswith("p_")
                    else "not a column of a predictions file"
                )
                self.error(line, name, f"{name!r} is {what} (columns: example_id, label, score, p_<label>)")
                ok = False
        probability_columns = [name for name in header if name.startswith("p_")]
        if probability_columns:
            missing = [name for name in self.labels if f"p_{name}" not in header]
            if missing:
                self.error(
                    line, f"p_{missing[0]}", f"probabilities must name every label: no column p_{missing[0]}"
                )
                ok = False
        elif "label" not in header:
            self.error(line, "label", "the header has neither a 'label' column nor p_<label> columns")
            ok = False
        self.has_probabilities = bool(probability_columns)
        return ok

    def _row(self, line: int, values: dict, *, from_text: bool) -> PredictionRow | None:
        errors_before = self.error_count
        example = self._example(line, values["example_id"])
        probabilities = self._probabilities(line, values, from_text=from_text)
        label = None
        if "label" in values and not (from_text and values["label"].strip() == ""):
            label = self._label(line, values["label"])
        elif probabilities is not None:
            label = self.labels[max(range(len(probabilities)), key=probabilities.__getitem__)]
        elif self.error_count == errors_before:
            self.error(line, "label", "the row has no label and no probabilities")
        score = self._score(line, values.get("score"), from_text=from_text)
        if self.error_count != errors_before or example is None or label is None:
            return None
        earlier = self._seen.get(example)
        if earlier is not None:
            self.error(line, "example_id", f"this example was already predicted on line {earlier}")
            return None
        self._seen[example] = line
        return line, example, label, score, probabilities

    def _score(self, line: int, value, *, from_text: bool) -> float | None:
        if value is None or (from_text and value.strip() == ""):
            return None
        number = self._number(line, "score", value)
        return number

    def _number(self, line: int, column: str, value) -> float | None:
        if isinstance(value, bool):
            self.error(line, column, f"the {column} must be a number, not boolean")
            return None
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                self.error(line, column, f"{value.strip()[:40]!r} is not a number")
                return None
        if not isinstance(value, int | float):
            self.error(line, column, f"the {column} must be a number, not {json_type_name(value)}")
            return None
        value = float(value)
        if not math.isfinite(value):
            self.error(line, column, "the number must be finite")
            return None
        return value

    def _probabilities(self, line: int, values: dict, *, from_text: bool) -> list[float] | None:
        if from_text:
            if not self.has_probabilities:
                return None
            given = {name: values[f"p_{name}"] for name in self.labels}
        else:
            given = self._json_probabilities(line, values)
            if given is None:
                return None
        out = []
        ok = True
        for name in self.labels:
            column = f"p_{name}"
            if name not in given:
                self.error(line, column, f"probabilities must name every label: {column} is missing")
                return None
            number = self._number(line, column, given[name])
            if number is None:
                ok = False
                continue
            if not 0.0 <= number <= 1.0:
                self.error(line, column, f"the probability {number:g} is outside [0, 1]")
                ok = False
            out.append(number)
        if not ok:
            return None
        total = math.fsum(out)
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            self.error(
                line, "p_*", f"the probabilities sum to {total:.6g}, not 1 (within {PROBABILITY_TOLERANCE:g})"
            )
            return None
        return out

    def _json_probabilities(self, line: int, values: dict) -> dict | None:
        nested = values.get("probabilities")
        flat = {key[2:]: value for key, value in values.items() if key.startswith("p_")}
        for key in values:
            if key not in ("example_id", "label", "score", "probabilities") and not key.startswith("p_"):
                self.error(
                    line, key, f"{key!r} is not a field of a prediction (example_id, label, score, p_<label>)"
                )
        if nested is not None:
            if not isinstance(nested, dict):
                self.error(
                    line, "probabilities", f"probabilities must be an object, not {json_type_name(nested)}"
                )
                return None
            flat = {**flat, **nested}
        for name in flat:
            if name not in self.label_set:
                self.error(line, f"p_{name}", f"{name[:100]!r} is not a label of this project")
                return None
        return flat or None
