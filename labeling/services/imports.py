"""Importing annotations made elsewhere (long CSV/TSV/JSONL, or a Label Studio JSON export) as a
background job, all or nothing, then deciding the examples they touch with the project's rules.

`AnnotationFileReader` is pure: it streams a file into rows and errors (line, column, message),
never holding the file in memory. `annotation_import_run` is the job (registered with the
projects app's import frame, which stores uploads, claims batches and reports failures):

1. Staging: valid rows go into a TEMP table (COPY on PostgreSQL), progress committed meanwhile.
2. One transaction, under the project's import lock: the checks that need the whole file or
   the database (a rater twice on one example, unknown labels, unknown examples without a
   text); any error fails the batch and nothing is written. Otherwise labels (with `create`),
   examples, rater accounts and memberships, then the annotations are written with set-based
   SQL, each example's annotation count is raised, and the project's decision rules run on
   every example that got a new annotation (labeling.services.decisions), so consensus
   labels and the review queue see them at once.
3. After the commit, an agreement report is queued.

Rules (also in the README and the command's help):
- Long format: one row per annotation with `example_id`, `rater`, `label`; an optional `text`;
  any other column is metadata, taken from an example's first row that has a text (else its
  first row) when the import creates the example.
- A rater is any printable name. A name that is a valid username maps to that account; any other
  name ("Mary O'Neil", "j. doe") maps to a stable account `<slug>-<10 hex digits of its SHA-256>`,
  so the same name always lands on the same account; the name is kept as the account's display
  (first) name. Unknown raters become inactive accounts with no password and a labeler
  membership; known users who are not members get a labeler membership.
- Label Studio: a task's `id` is the example's external id, `data.text` its text, the other
  `data` keys its metadata; a user is the account `labelstudio-<id>` (the email, when the export
  has it, kept as display name and email), so the same user is always the same rater. With
  several choices (or labels) controls, `from_name` picks one (an error lists them otherwise). Cancelled
  annotations are counted and reported, never imported.
- Unknown examples are created when a row has a text; without a text only with `create`
  (command line), stored with an empty text: they are shown by external id and metadata and
  never handed out to labelers. Unknown labels are errors, unless `create` adds them.
- A rater labelling the same example twice in the file is an error. A rater who already has an
  annotation of the example in Concord (current or superseded) keeps it: the row is skipped and
  counted, so importing the same file twice adds nothing.
- Imported annotations have source "import" and no guideline version.
- Multi-label projects: a `labels` column instead of `label`, the label names separated by `|`
  (CSV/TSV; an empty value is "none of these"), or a JSON list of names (JSONL); a Label Studio
  annotation's choices are its set. A label named twice in one set is an error, and so is the
  other shape for the project's task type (a `label` on a multi-label project, a set or several
  Label Studio choices on a single-label one). With `create`, a new project is multi-label when
  the file gives label sets (a `labels` column, or several choices in one annotation).
- Span projects: a JSONL `spans` list of {"start", "end", "label"} (code points; [] for no
  entities), or a Label Studio annotation's `labels` results (UTF-16 offsets, converted by the
  reader against the task's text; an annotation without labels or choices results has no
  entities). Once staged, every span row is checked against its example's text (Concord's, or
  the file's for a new example; a row's own text must be that text), the project's labels and
  nesting rule by labeling.spans.spans_clean, errors by line and field. A file gives one kind of
  answer; spans in a non-span project, or labels in a span project, are errors by line. With
  `create`, a new project is a span project when the file gives spans, and lets them nest when
  the file nests them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from itertools import islice
from typing import Any, BinaryIO

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from core.errors import ApplicationError
from core.jobs.services import job_succeed
from labeling import hooks
from labeling.models import Annotation
from labeling.services.decisions import examples_decide, new_examples_decide
from labeling.spans import SpanError, spans_clean
from projects.importing import (
    MAX_ERRORS_KEPT,
    ImportLimits,
    RowError,
    StreamReader,
    _Unreadable,
    encodable,
    json_type_name,
    metadata_builder,
)
from projects.models import (
    LABEL_SEPARATOR,
    RESERVED_SHORTCUT_KEYS,
    Example,
    ImportBatch,
    Label,
    Membership,
    Project,
    Role,
    TaskType,
)
from projects.services.imports import (
    Importer,
    _Progress,
    copy_text,
    import_batch_create,
    import_batch_fail,
    import_batch_run,
    import_limits,
    project_import_lock,
    staging_drop,
    staging_load,
)

logger = logging.getLogger(__name__)

FORMATS = ("csv", "tsv", "jsonl", "labelstudio")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "labelstudio",
}
REQUIRED_COLUMNS = ("example_id", "rater", "label")
SET_COLUMNS = ("example_id", "rater", "labels")  # a multi-label file
MAX_RATER_CHARS = 150  # Django's username and first_name
MAX_LABEL_CHARS = 100
SHORTCUT_KEYS = [k for k in "123456789abcdefghijklmnopqrstuvwxyz" if k not in RESERVED_SHORTCUT_KEYS]
LABEL_COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6"]
LABEL_STUDIO_USERNAME = "labelstudio-{}"
RENAMED_RATERS_SHOWN = 20
ACCOUNTS_CACHED = 50_000  # rater names the reader remembers (a file rarely has more raters)
MOST_OVERLAP = 25  # the project's overlap constraint
STATISTICS_REFRESH_ROWS = 50_000  # annotations written at once before planner statistics are refreshed

STAGING_TABLE = "concord_annotation_staging"
EXAMPLES_TABLE = "concord_annotation_examples"
NEW_TABLE = "concord_annotation_new"
STAGING_COLUMNS = (
    ("seq", "bigint", "integer"),
    ("line", "integer", "integer"),
    ("task", "integer", "integer"),  # Label Studio: the task's position in the export; else 0
    ("external_id", "varchar(255)", "text"),
    ("rater", "varchar(150)", "text"),  # the account's username
    ("rater_name", "text", "text"),  # the name as the file gave it (Label Studio: the email)
    ("label", "text", "text"),  # "" when the row gives a set
    ("labels", "text", "text"),  # a set: a JSON list of names in file order; "" when a single label
    # spans: the JSON list as the file gave it (Label Studio: [start, end, name] in code points);
    # "" when the row gives a label or a set
    ("spans", "text", "text"),
    ("text", "text", "text"),  # "" when the row has none
    ("metadata", "jsonb", "text"),
)

LABELSETS_TABLE = "concord_annotation_labelsets"

SPANS_TABLE = "concord_annotation_spans"

# A staged row, in the order of STAGING_COLUMNS.
Row = tuple[int, int, int, str, str, str, str, str, str, str, str]

_USERNAME = re.compile(r"^[\w.@+-]+\Z")  # django.contrib.auth.validators.UnicodeUsernameValidator


def format_from_name(name: str) -> str | None:
    lowered = name.lower()
    for extension, file_format in EXTENSIONS.items():
        if lowered.endswith(extension):
            return file_format
    return None


def rater_account(name: str) -> tuple[str, str]:
    """(username, display name) of a rater name from a file, or ValueError saying what is wrong.

    Whitespace runs become one space (a non-breaking space from a spreadsheet is still a space)
    and the name is NFC-normalised, so one person always gets one account.
    """
    display = " ".join(unicodedata.normalize("NFC", name).split())
    if not display:
        raise ValueError("the rater is empty")
    if len(display) > MAX_RATER_CHARS:
        raise ValueError(f"the rater name is {len(display)} characters; the limit is {MAX_RATER_CHARS}")
    if not display.isprintable():
        raise ValueError("the rater name contains a control or other unprintable character")
    if _USERNAME.match(display):
        return display, display
    slug = slugify(display, allow_unicode=True)[:80] or "rater"
    digest = hashlib.sha256(display.encode("utf-8")).hexdigest()[:10]
    return f"{slug}-{digest}", display


def _bad_characters(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    if not encodable(value):
        return "contains a \\u escape that is not a character (a lone surrogate)"
    return None


# --------------------------------------------------------------------------------------------------
# Reading (pure)


class AnnotationFileReader(StreamReader):
    """Iterate over an annotation file's valid rows (see `Row`); afterwards `errors` (the first
    50), `error_count` (all), `cancelled` (Label Studio annotations cancelled there) and
    `from_names` (the choices controls seen in a Label Studio export)."""

    def __init__(
        self,
        file: BinaryIO,
        file_format: str,
        limits: ImportLimits | None = None,
        *,
        from_name: str = "",
    ):
        if file_format not in FORMATS:
            raise ValueError(f"unknown format {file_format!r}")
        super().__init__(file, limits)
        self.file_format = file_format
        self.from_name = from_name
        self.cancelled = 0
        self.from_names: dict[str, int] = {}  # control name -> line of the task that first used it
        self.labels_from_names: dict[str, int] = {}  # the same for labels (span) controls
        self._seq = 0
        self._accounts: dict[str, tuple[str, str] | str] = {}  # name -> (username, display) or error

    def __iter__(self) -> Iterator[Row]:
        if self.file_format in ("csv", "tsv"):
            return self._delimited_rows("," if self.file_format == "csv" else "\t")
        if self.file_format == "jsonl":
            return self._jsonl_rows()
        return self._labelstudio_rows()

    def _account(self, name: str) -> tuple[str, str] | str:
        """The cached (username, display) of a rater name, or the error message."""
        found = self._accounts.get(name)
        if found is None:
            try:
                found = rater_account(name)
            except ValueError as exc:
                found = str(exc)
            if len(self._accounts) >= ACCOUNTS_CACHED:
                self._accounts.clear()  # a file with a crowd of raters must not grow memory without end
            self._accounts[name] = found
        return found

    def _row(
        self,
        line: int,
        task: int,
        example_id: str,
        rater: str,
        label: str,
        text: str,
        metadata: str,
        labels: list[str] | None = None,
        spans: list | None = None,
    ) -> Row | None:
        """Check the fields every format shares; None (and errors) if the row is invalid.
        `example_id` and `label` are stripped here; a `text` of "" or only spaces means none.
        `labels`: a label set (multi-label) instead of `label`; `spans`: a span list instead of
        either (checked against the example's text once the file is staged)."""
        error = self.error
        ok = True
        example_id = example_id.strip()
        if not example_id:
            error(line, "example_id", "the example_id is empty")
            ok = False
        elif len(example_id) > self.limits.max_id_chars:
            error(line, "example_id", f"the example_id is longer than {self.limits.max_id_chars} characters")
            ok = False
        account = self._account(rater)
        if isinstance(account, str):
            error(line, "rater", account)
            ok = False
        label = label.strip()
        labels_json = spans_json = ""
        if spans is not None:
            # ASCII: a lone surrogate or a NUL in a label name stays an escape until it is checked.
            try:
                spans_json = json.dumps(spans, allow_nan=False)
            except ValueError:
                error(line, "spans", "the spans contain NaN or Infinity, which JSON does not allow")
                ok = False
            label = ""
        elif labels is not None:
            names = [name.strip() for name in labels]
            problem = next((name for name in names if not name or len(name) > MAX_LABEL_CHARS), None)
            twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
            piped = next((name for name in names if LABEL_SEPARATOR in name), None)
            if piped is not None:
                error(
                    line,
                    "labels",
                    f"the label {piped!r} contains {LABEL_SEPARATOR}, which joins a set's labels",
                )
                ok = False
            elif problem is not None:
                why = (
                    "an empty label name"
                    if not problem
                    else f"a label longer than {MAX_LABEL_CHARS} characters"
                )
                error(line, "labels", f"the labels contain {why}")
                ok = False
            elif twice is not None:
                error(line, "labels", f"the label {twice!r} is given twice")
                ok = False
            labels_json = json.dumps(names, ensure_ascii=False)
            label = ""
        elif not label:
            error(line, "label", "the label is empty")
            ok = False
        elif len(label) > MAX_LABEL_CHARS:
            error(line, "label", f"the label is longer than {MAX_LABEL_CHARS} characters")
            ok = False
        if text and text.isspace():
            text = ""
        if len(text) > self.limits.max_text_chars:
            error(
                line, "text", f"the text is {len(text)} characters; the limit is {self.limits.max_text_chars}"
            )
            ok = False
        if len(metadata) > self.limits.max_metadata_chars:
            limit = self.limits.max_metadata_chars
            error(line, "", f"the other columns are {len(metadata)} characters as metadata; limit {limit}")
            ok = False
        if not ok:
            return None
        self._seq += 1
        return (
            self._seq, line, task, example_id, account[0], account[1], label, labels_json, spans_json, text,
            metadata,
        )  # fmt: skip

    # -- CSV and TSV ----------------------------------------------------------------------

    def _delimited_rows(self, delimiter: str) -> Iterator[Row]:
        reader = csv.reader(self._text_lines(newline=""), delimiter=delimiter, strict=True)
        # A `labels` column (and no `label`) makes the file one of label sets (multi-label).
        header = self._delimited_header(reader, required=REQUIRED_COLUMNS[:2])
        if header is None:
            return
        if ("label" in header) == ("labels" in header):
            found = ", ".join(repr(name) for name in header[:10])
            both = (
                "both a 'label' and a 'labels' column"
                if "label" in header
                else f"no 'label' column (found {found})"
            )
            self.error(
                reader.line_num,
                "label",
                f"the header has {both}; give 'label' (one label) or 'labels' (a set)",
            )
            return
        sets = "labels" in header
        columns = SET_COLUMNS if sets else REQUIRED_COLUMNS
        n_fields = len(header)
        example_index, rater_index, label_index = (header.index(name) for name in columns)
        text_index = header.index("text") if "text" in header else None
        metadata_of = metadata_builder(header, exclude=(*columns, "text"))
        row_of = self._row
        previous_line = reader.line_num
        rows_read = 0
        try:
            for values in reader:
                line = previous_line + 1  # a quoted value may span lines: report where the row starts
                previous_line = reader.line_num
                if len(values) != n_fields:
                    if not values:  # a blank line
                        continue
                    rows_read += 1
                    self.error(line, "", f"expected {n_fields} fields as in the header, found {len(values)}")
                    continue
                rows_read += 1
                given = values[label_index]
                row = row_of(
                    line,
                    0,
                    values[example_index],
                    values[rater_index],
                    "" if sets else given,
                    "" if text_index is None else values[text_index],
                    metadata_of(values),
                    (given.split(LABEL_SEPARATOR) if given.strip() else []) if sets else None,
                )
                if row is not None:
                    yield row
        except csv.Error as exc:
            rows_read += 1
            self.error(previous_line + 1, "", f"the row cannot be read ({exc}); check the quoting")
        except (UnicodeDecodeError, _Unreadable):
            self._diagnose_unreadable()
        finally:
            self.rows_read = rows_read
        if rows_read == 0 and not self.error_count:
            self.error(reader.line_num or 1, "", "the file has a header but no rows")

    # -- JSON Lines -----------------------------------------------------------------------

    def _jsonl_rows(self) -> Iterator[Row]:
        for line, value in self._json_lines():
            if not isinstance(value, dict):
                self.error(line, "", f"expected a JSON object, found {json_type_name(value)}")
                continue
            fields = {}
            ok = True
            labels = spans = None
            answers = [key for key in ("label", "labels", "spans") if key in value]
            if len(answers) > 1:
                self.error(
                    line,
                    answers[1],
                    "give one of 'label' (one label), 'labels' (a set) or 'spans', not "
                    + " and ".join(answers),
                )
                continue
            if answers == ["spans"]:
                spans = value["spans"]
                if not isinstance(spans, list):
                    self.error(
                        line,
                        "spans",
                        f'the spans must be a list of {{"start", "end", "label"}} objects ([] for no '
                        f"entities), not {json_type_name(spans)}",
                    )
                    ok = False
            elif "labels" in value and "label" not in value:
                labels = value["labels"]
                if not isinstance(labels, list) or not all(isinstance(item, str) for item in labels):
                    self.error(line, "labels", "the labels must be a list of label names (strings)")
                    ok = False
                elif problem := next((p for p in map(_bad_characters, labels) if p), None):
                    self.error(line, "labels", f"a label {problem}")
                    ok = False
            for name in (*REQUIRED_COLUMNS, "text"):
                if name == "label" and answers and answers != ["label"]:
                    fields[name] = ""
                    continue
                item = value.get(name)
                if item is None:
                    if name == "label":
                        self.error(
                            line,
                            name,
                            "the object has no 'label' (or 'labels', a list, for a set; or 'spans')",
                        )
                        ok = False
                    elif name != "text":
                        self.error(line, name, f"the object has no {name!r}")
                        ok = False
                    fields[name] = ""
                elif isinstance(item, str) or (
                    isinstance(item, int) and not isinstance(item, bool) and name != "text"
                ):
                    item = str(item)
                    problem = _bad_characters(item)
                    if problem:
                        self.error(line, name, f"the {name} {problem}")
                        ok = False
                    fields[name] = item
                else:
                    kinds = "a string" if name == "text" else "a string or an integer"
                    self.error(line, name, f"the {name} must be {kinds}, not {json_type_name(item)}")
                    ok = False
            metadata = self._metadata_json(
                line, value, exclude=(*REQUIRED_COLUMNS, "labels", "spans", "text")
            )
            if not ok or metadata is None:
                continue
            row = self._row(
                line,
                0,
                fields["example_id"],
                fields["rater"],
                fields["label"],
                fields["text"],
                metadata,
                labels,
                spans,
            )
            if row is not None:
                yield row

    def _metadata_json(self, line: int, value: dict, *, exclude: tuple[str, ...]) -> str | None:
        metadata = {key: item for key, item in value.items() if key not in exclude}
        if not metadata:
            return "{}"
        try:
            text = json.dumps(metadata, ensure_ascii=False, allow_nan=False)
        except ValueError:
            self.error(line, "", "the metadata contains NaN or Infinity, which JSON does not allow")
            return None
        if "\\u0000" in text:
            self.error(line, "", "the metadata contains a NUL character")
            return None
        if not encodable(text):
            self.error(line, "", "the metadata contains a \\u escape that is not a character")
            return None
        return text

    # -- Label Studio -----------------------------------------------------------------------

    def _labelstudio_rows(self) -> Iterator[Row]:
        for task_number, (line, task) in enumerate(self._json_array_items(), start=1):
            yield from self._labelstudio_task(line, task_number, task)
        self._check_from_names()

    def _labelstudio_task(self, line: int, number: int, task: Any) -> Iterator[Row]:
        error = self.error
        where = f"task {number}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            error(line, "data", f"{where}: each task must be an object with a 'data' object")
            return
        task_id = task.get("id")
        if isinstance(task_id, bool) or not isinstance(task_id, int | str) or not str(task_id).strip():
            error(line, "id", f"{where}: the task has no id (a number or a string)")
            return
        where = f"task {number} (id {task_id})"
        data = task["data"]
        text = data.get("text")
        if text is None:
            text = ""
        elif not isinstance(text, str):
            error(line, "data.text", f"{where}: the text must be a string, not {json_type_name(text)}")
            return
        elif problem := _bad_characters(text):
            error(line, "data.text", f"{where}: the text {problem}")
            return
        external_id = str(task_id)
        if problem := _bad_characters(external_id):
            error(line, "id", f"{where}: the id {problem}")
            return
        metadata = self._metadata_json(line, data, exclude=("text",))
        if metadata is None:
            return
        annotations = task.get("annotations")
        if not isinstance(annotations, list):
            error(line, "annotations", f"{where}: 'annotations' must be a list")
            return
        for index, annotation in enumerate(annotations):
            column = f"annotations[{index}]"
            if not isinstance(annotation, dict):
                error(line, column, f"{where}: each annotation must be an object")
                continue
            if annotation.get("was_cancelled"):
                self.cancelled += 1  # skipped in Label Studio: not a label, but reported
                continue
            if _labelstudio_spans_annotation(annotation):
                spans = self._labelstudio_spans(line, where, column, annotation["result"], text)
                rater = self._labelstudio_rater(line, where, column, annotation.get("completed_by"))
                if spans is None or rater is None:
                    continue
                row = self._row(line, number, external_id, rater[0], "", text, metadata, spans=spans)
                if row is not None:
                    yield (*row[:5], rater[1], *row[6:])  # type: ignore[misc]
                continue
            picked = self._labelstudio_choice(line, where, column, annotation)
            rater = self._labelstudio_rater(line, where, column, annotation.get("completed_by"))
            if picked is None or rater is None:
                continue
            username, email = rater
            # Every annotation is staged as a set too: the project's task type (or, for a new
            # project, whether any annotation chose several) decides which is used.
            label = picked[0] if len(picked) == 1 else ""
            row = self._row(line, number, external_id, username, label, text, metadata, picked)
            if row is not None and label:
                row = (*row[:6], label, *row[7:])  # both shapes: the set and the single label
            if row is not None:
                # The account is the Label Studio id; the email is kept only as display name.
                yield (*row[:5], email, *row[6:])  # type: ignore[misc]

    def _labelstudio_spans(
        self, line: int, where: str, column: str, result: list, text: str
    ) -> list[list] | None:
        """The spans of an annotation's `labels` results as [start, end, name] in code points (one
        span per label of a result), or None (and an error). Label Studio counts UTF-16 code
        units; a result's `value.text`, when given, must be the text at its offsets."""
        spans: list[list] = []
        for index, item in enumerate(result):
            if not isinstance(item, dict) or item.get("type") != "labels":
                continue
            control = str(item.get("from_name") or "")
            self.labels_from_names.setdefault(control, line)
            if self.from_name and control != self.from_name:
                continue
            field = f"{column}.result[{index}].value"
            value = item.get("value")
            names = value.get("labels") if isinstance(value, dict) else None
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                self.error(line, f"{field}.labels", f"{where}: {field}.labels must be a list of label names")
                return None
            try:
                ((start, end, _),) = spans_clean(
                    text,
                    [[value.get("start"), value.get("end"), "x"]],
                    labels={"x": 0},
                    may_nest=True,
                    utf16=True,
                )
            except SpanError as exc:
                self.error(
                    line,
                    exc.field.replace("spans[0]", field),
                    f"{where}: {exc.message.replace('spans[0]', field)}",
                )
                return None
            given = value.get("text")
            if isinstance(given, str) and given != text[start:end]:
                self.error(
                    line,
                    f"{field}.text",
                    f"{where}: {field}.text {given[:60]!r} is not the task's text at these offsets "
                    f"({text[start:end][:60]!r}); the offsets must count UTF-16 code units of data.text",
                )
                return None
            spans += [[start, end, name] for name in names]
        return spans

    def _labelstudio_choice(self, line: int, where: str, column: str, annotation: dict) -> list[str] | None:
        result = annotation.get("result")
        if not isinstance(result, list):
            self.error(line, f"{column}.result", f"{where}: 'result' must be a list")
            return None
        choices = [
            item
            for item in result
            if isinstance(item, dict)
            and item.get("type") == "choices"
            and isinstance(item.get("value"), dict)
        ]
        names = []
        for item in choices:
            name = str(item.get("from_name") or "")
            self.from_names.setdefault(name, line)
            names.append(name)
        if self.from_name:
            choices = [item for item, name in zip(choices, names, strict=True) if name == self.from_name]
            if not choices:
                if self.from_name in self.from_names or not names:
                    self.error(line, f"{column}.result", f"{where}: no choice for {self.from_name!r}")
                return None  # a control name unknown to the whole file is one error at the end
        elif len(set(names)) > 1:
            return None  # several controls: one error at the end names them all
        if len(choices) != 1:
            message = "no choices result" if not choices else "more than one choices result"
            self.error(line, f"{column}.result", f"{where}: {message}; expected exactly one")
            return None
        picked = choices[0]["value"].get("choices")
        if not isinstance(picked, list) or not picked or not all(isinstance(item, str) for item in picked):
            self.error(
                line, f"{column}.result", f"{where}: no choice selected; expected a list of choice names"
            )
            return None
        for item in picked:
            if problem := _bad_characters(item):
                self.error(line, f"{column}.result", f"{where}: the choice {problem}")
                return None
        return picked  # several on a single-label project are refused once the project is known

    def _labelstudio_rater(
        self, line: int, where: str, column: str, completed_by: Any
    ) -> tuple[str, str] | None:
        """(username, email or "") of the Label Studio user who made an annotation."""
        email = ""
        if isinstance(completed_by, dict):
            raw_email = completed_by.get("email")
            if isinstance(raw_email, str) and not _bad_characters(raw_email):
                email = " ".join(raw_email.split())[:MAX_RATER_CHARS]
            completed_by = completed_by.get("id")
        if isinstance(completed_by, bool) or not isinstance(completed_by, int):
            self.error(
                line,
                f"{column}.completed_by",
                f"{where}: 'completed_by' must be a Label Studio user id or an object with an 'id'",
            )
            return None
        return LABEL_STUDIO_USERNAME.format(completed_by), email

    def _check_from_names(self) -> None:
        self._check_labels_from_names()
        names = sorted(self.from_names, key=self.from_names.get)  # in order of appearance
        listed = ", ".join(repr(name) for name in names)
        if self.from_name:
            if (
                names
                and self.from_name not in self.from_names
                and self.from_name not in self.labels_from_names
            ):
                self.error_first(
                    1,
                    "from_name",
                    f"the export has no choices control named {self.from_name!r} (found {listed})",
                )
        elif len(names) > 1:
            second = self.from_names[names[1]]
            self.error_first(
                second,
                "from_name",
                f"the export has several choices controls ({listed}); pick one with --from-name "
                "(or the form's and the API's from_name)",
            )

    def _check_labels_from_names(self) -> None:
        """Span exports: several labels controls need --from-name; a --from-name that names no
        control at all would import every annotation as no entities."""
        names = sorted(self.labels_from_names, key=self.labels_from_names.get)
        listed = ", ".join(repr(name) for name in names)
        if self.from_name:
            if (
                names
                and self.from_name not in self.labels_from_names
                and self.from_name not in self.from_names
            ):
                self.error_first(
                    1,
                    "from_name",
                    f"the export has no labels control named {self.from_name!r} (found {listed})",
                )
        elif len(names) > 1:
            self.error_first(
                self.labels_from_names[names[1]],
                "from_name",
                f"the export has several labels controls ({listed}); pick one with --from-name "
                "(or the form's and the API's from_name)",
            )


def _labelstudio_spans_annotation(annotation: dict) -> bool:
    """Whether a Label Studio annotation is a span answer: it has `labels` results, or no
    `choices` result at all (no entities; a single- or multi-label project refuses it once the
    project is known, as it refused an annotation without a choice)."""
    result = annotation.get("result")
    if not isinstance(result, list):
        return False
    types = {item.get("type") for item in result if isinstance(item, dict)}
    return "labels" in types or "choices" not in types


# --------------------------------------------------------------------------------------------------
# The job


def annotation_import_options_clean(options: dict) -> dict:
    """The options an annotation import may carry: `create` (command line), `from_name`."""
    unknown = set(options) - {"create", "from_name", "new_project"}
    if unknown:
        raise ValidationError(f"Unknown import option(s): {', '.join(sorted(unknown))}.")
    from_name = str(options.get("from_name") or "").strip()
    if len(from_name) > 200 or _bad_characters(from_name):
        raise ValidationError("The from_name is not a Label Studio control name.")
    return {
        "create": bool(options.get("create")),
        "from_name": from_name,
        "new_project": bool(options.get("new_project")),
    }


def _staging_drop() -> None:
    staging_drop(NEW_TABLE, LABELSETS_TABLE, SPANS_TABLE, EXAMPLES_TABLE, STAGING_TABLE)


def _copy_chunk(chunk: list[Row]) -> str:
    """Rows in COPY's text format; rater names and labels repeat, so their escaping is cached."""
    cache: dict[str, str] = {}

    def cached(value: str) -> str:
        found = cache.get(value)
        if found is None:
            found = cache[value] = copy_text(value)
        return found

    return "".join(
        f"{seq}\t{line}\t{task}\t{copy_text(external_id)}\t{cached(rater)}\t{cached(name)}\t"
        f"{cached(label)}\t{cached(labels)}\t{copy_text(spans)}\t{copy_text(text)}\t{copy_text(metadata)}\n"
        for seq, line, task, external_id, rater, name, label, labels, spans, text, metadata in chunk
    )


def annotation_import_run(batch: ImportBatch) -> None:
    """Read, check and write one annotation import batch; ends it succeeded or failed."""
    options = batch.options or {}
    progress = _Progress(batch)
    _staging_drop()
    with default_storage.open(batch.stored_file, "rb") as handle:
        reader = AnnotationFileReader(
            handle, batch.file_format, import_limits(), from_name=options.get("from_name", "")
        )
        staged = staging_load(
            table=STAGING_TABLE,
            columns=STAGING_COLUMNS,
            rows=iter(reader),
            reader=reader,
            progress=progress,
            copy_chunk=_copy_chunk,
        )
        bytes_read = reader.bytes_read
        progress(reader, staged, force=True)  # everything is read: the page says "saving"

    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.id)
        if locked.status != ImportBatch.Status.RUNNING or locked.attempts != batch.attempts:
            return  # another worker took this batch over meanwhile
        project = Project.objects.select_for_update().get(pk=batch.project_id)
        project_import_lock(project.pk)
        read = {"bytes_read": bytes_read, "rows_read": reader.rows_read}
        _analyze(STAGING_TABLE)
        _examples_table(project)
        if options.get("new_project"):
            _new_project_task_type(project, batch.file_format)
        spans = None
        if project.task_type == TaskType.SPANS:
            spans = _spans_check(
                project, create=bool(options.get("create")), new_project=bool(options.get("new_project"))
            )
        errors, error_count = _file_errors(
            project, reader, create=bool(options.get("create")), file_format=batch.file_format, spans=spans
        )
        if not error_count and not staged:
            cancelled = f" ({reader.cancelled} were cancelled in Label Studio)" if reader.cancelled else ""
            errors, error_count = [RowError(0, "", f"the file has no annotations to import{cancelled}")], 1
        if error_count:
            import_batch_fail(batch, errors, error_count, fields=read)
            return
        try:
            with transaction.atomic():
                summary = _write(project, locked, staged=staged, reader=reader, options=options, spans=spans)
        except ApplicationError as exc:  # e.g. more new labels than free shortcut keys
            import_batch_fail(batch, [RowError(0, "", exc.message)], 1, fields=read)
            return
        job_succeed(
            job=batch,
            fields={
                "rows_created": summary["annotations_created"],
                "rows_skipped": summary["annotations_skipped"],
                "rows_read": reader.rows_read,
                "bytes_read": batch.bytes_total,
                "summary": summary,
            },
        )
        locked.summary = summary
    if summary["annotations_created"]:
        _agreement_refresh(locked)


def _agreement_refresh(batch: ImportBatch) -> None:
    """Queue an agreement report now. The import is committed: a report that cannot even be
    queued (a broker that is down only delays it: core.jobs) is said in the summary instead."""
    try:
        hooks.annotations_changed.fire(project_id=batch.project_id, source="import")
    except Exception as exc:
        logger.warning("agreement report for import batch %s not queued", batch.pk, exc_info=True)
        summary = {**batch.summary, "agreement_report_error": type(exc).__name__}
        ImportBatch.objects.filter(pk=batch.pk).update(summary=summary)
        batch.summary = summary


def _analyze(*tables: str) -> None:
    """Refresh PostgreSQL's planner statistics. Temporary tables are never analysed by
    autovacuum: without statistics the planner would guess their size and could pick nested
    loops over a million rows."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(tables)}")


def _examples_table(project: Project) -> None:
    """One row per example of the file: its first row, its first row with a text, how many rows,
    the id of the project's example with that external id (NULL until it exists), and whether
    this import created it."""
    with connection.cursor() as cursor:
        # In file order (of each example's first row): new examples get their ids in that order.
        cursor.execute(
            f"CREATE TEMP TABLE {EXAMPLES_TABLE} AS "
            "SELECT external_id, MIN(seq) AS first_seq, "
            "MIN(CASE WHEN text <> '' THEN seq END) AS text_seq, COUNT(*) AS n, "
            f"CAST(NULL AS bigint) AS example_id, 0 AS created FROM {STAGING_TABLE} GROUP BY external_id "
            "ORDER BY first_seq"
        )
        if connection.vendor != "postgresql":  # PostgreSQL joins it by hashing; SQLite needs an index
            cursor.execute(f"CREATE INDEX {EXAMPLES_TABLE}_external_id ON {EXAMPLES_TABLE} (external_id)")
        _link_examples(cursor, project)
    _analyze(EXAMPLES_TABLE)


def _link_examples(cursor, project: Project, *, created: bool = False) -> None:
    cursor.execute(
        f"UPDATE {EXAMPLES_TABLE} SET example_id = e.id, created = %s FROM {Example._meta.db_table} AS e "
        f"WHERE e.project_id = %s AND e.external_id = {EXAMPLES_TABLE}.external_id "
        f"AND {EXAMPLES_TABLE}.example_id IS NULL",
        [int(created), project.pk],
    )


def _where(line: int, task: int) -> str:
    return f"task {task}: " if task else ""


def _new_project_task_type(project: Project, file_format: str) -> None:
    """A project the import creates is a span project when the file gives spans (a Label Studio
    export: `labels` results), else multi-label when it gives label sets (a `labels` column or
    list, or a Label Studio annotation with several choices), and then allows "none of these"
    when some set is empty. Whether its spans may nest is settled when they are checked
    (_spans_check). Set directly: the project is new and has no annotations."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {STAGING_TABLE} WHERE {_span_rows_sql(file_format)}")
        (span_rows,) = cursor.fetchone()
        cursor.execute(f"SELECT COUNT(*) FROM {STAGING_TABLE} WHERE label <> '' OR labels <> ''")
        (label_rows,) = cursor.fetchone()
        cursor.execute(
            f"SELECT COUNT(*), SUM(CASE WHEN labels = '[]' THEN 1 ELSE 0 END) FROM {STAGING_TABLE} "
            "WHERE label = '' AND spans = ''"
        )
        sets, empty = cursor.fetchone()
    if span_rows or (not label_rows and not sets):
        project.task_type = TaskType.SPANS
        Project.objects.filter(pk=project.pk).update(task_type=project.task_type)
    elif sets:
        project.task_type, project.allow_empty_label_set = TaskType.MULTI, bool(empty)
        Project.objects.filter(pk=project.pk).update(
            task_type=project.task_type, allow_empty_label_set=project.allow_empty_label_set
        )


def _file_sets(cursor) -> list[tuple[str, list[str], int, int, int]]:
    """The distinct label sets of a multi-label file: (JSON as staged, names, rows giving it,
    line and task of the first)."""
    cursor.execute(
        f"SELECT labels, COUNT(*), MIN(seq) FROM {STAGING_TABLE} WHERE labels <> '' "
        "GROUP BY labels ORDER BY MIN(seq)"
    )
    found = cursor.fetchall()
    firsts: dict[int, tuple[int, int]] = {}
    seqs = [seq for _, _, seq in found]
    for start in range(0, len(seqs), 500):
        chunk = seqs[start : start + 500]
        cursor.execute(
            f"SELECT seq, line, task FROM {STAGING_TABLE} WHERE seq IN ({', '.join(['%s'] * len(chunk))})",
            chunk,
        )
        firsts.update({seq: (line, task) for seq, line, task in cursor.fetchall()})
    return [(raw, json.loads(raw), n, *firsts[seq]) for raw, n, seq in found]


def _span_rows_sql(file_format: str) -> str:
    """The staged rows that give spans. A Label Studio annotation without any result (staged as
    no entities) is a span row only in a span project: an export of choices may have them."""
    return "spans <> ''" + (" AND spans <> '[]'" if file_format == "labelstudio" else "")


def _span_shape_errors(project: Project, cursor, *, file_format: str) -> tuple[list[RowError], int]:
    """A file mixing spans with labels or sets (said once, at its first row of the second
    kind), and each row of the shape the project's task type does not take."""
    errors: list[RowError] = []
    spans = project.task_type == TaskType.SPANS
    span_rows = _span_rows_sql(file_format)
    cursor.execute(f"SELECT MIN(seq) FROM {STAGING_TABLE} WHERE {span_rows}")
    (first_span,) = cursor.fetchone()
    cursor.execute(f"SELECT MIN(seq) FROM {STAGING_TABLE} WHERE label <> '' OR labels <> ''")
    (first_label,) = cursor.fetchone()
    if first_span is not None and first_label is not None:
        cursor.execute(
            f"SELECT seq, line, task FROM {STAGING_TABLE} WHERE seq IN (%s, %s)", [first_span, first_label]
        )
        where = {seq: (line, task) for seq, line, task in cursor.fetchall()}
        (span_line, span_task), (label_line, label_task) = where[first_span], where[first_label]
        later = (span_line, span_task) if first_span > first_label else (label_line, label_task)
        errors.append(
            RowError(
                later[0],
                "spans" if first_span > first_label else "label",
                f"{_where(*later)}the file mixes spans (first at {_place(span_line, span_task)}) with "
                f"labels (first at {_place(label_line, label_task)}); one file gives one kind of answer",
            )
        )
    if spans:
        wrong = f"FROM {STAGING_TABLE} WHERE spans = ''"
        field = "result" if file_format == "labelstudio" else "label"
        message = (
            "this is a span project: give labels results (spans), not choices"
            if file_format == "labelstudio"
            else 'this is a span project: give \'spans\', a list of {"start", "end", "label"} objects '
            "([] for no entities), not a label"
        )
    else:
        wrong = f"FROM {STAGING_TABLE} WHERE spans <> ''"
        field = "result" if file_format == "labelstudio" else "spans"
        kind = "multi-label" if project.task_type == TaskType.MULTI else "single-label"
        message = f"spans are for span projects; this project is {kind}"
    cursor.execute(f"SELECT COUNT(*) {wrong}")
    (count,) = cursor.fetchone()
    if count:
        cursor.execute(f"SELECT line, task, spans {wrong} ORDER BY seq LIMIT %s", [MAX_ERRORS_KEPT])
        for line, task, given in cursor.fetchall():
            said = message
            if given == "[]" and file_format == "labelstudio":
                said = "no choices result; expected exactly one"
            errors.append(RowError(line, field, f"{_where(line, task)}{said}"))
    return errors, count + bool(first_span is not None and first_label is not None)


def _place(line: int, task: int) -> str:
    return f"task {task}" if task else f"line {line}"


def _shape_errors(project: Project, cursor, *, create: bool, file_format: str) -> tuple[list[RowError], int]:
    """Rows of the wrong shape for the project's task type, unknown labels inside sets, and
    "none of these" where the project does not allow it."""
    errors, count = _span_shape_errors(project, cursor, file_format=file_format)
    if project.task_type == TaskType.SPANS:
        return errors, count
    multi = project.task_type == TaskType.MULTI
    if multi:
        wrong = f"FROM {STAGING_TABLE} WHERE labels = '' AND spans = ''"
        field, message = (
            "label",
            (
                "this project is multi-label: give a 'labels' column (names separated by '|') or a "
                "'labels' list, not one 'label'"
            ),
        )
    else:
        wrong = f"FROM {STAGING_TABLE} WHERE label = '' AND spans = ''"
        field, message = (
            "labels",
            "this project takes one label per example ('label'); a set of labels ('labels') is for "
            "multi-label projects",
        )
    cursor.execute(f"SELECT COUNT(*) {wrong}")
    n_wrong = cursor.fetchone()[0]
    count += n_wrong
    if n_wrong:
        cursor.execute(f"SELECT line, task, labels {wrong} ORDER BY seq LIMIT %s", [MAX_ERRORS_KEPT])
        for line, task, labels in cursor.fetchall():
            if file_format == "labelstudio" and not multi:
                field = "result"
                message = (
                    f"{len(json.loads(labels))} choices selected; this single-label project takes "
                    "exactly one label per annotation"
                )
            errors.append(RowError(line, field, f"{_where(line, task)}{message}"))
    if not multi:
        return errors, count
    known = set(project.labels.values_list("name", flat=True))
    listed = ", ".join(repr(name) for name in sorted(known)[:20]) or "none yet"
    for _, names, n, line, task in _file_sets(cursor):
        unknown = [name for name in names if name not in known]
        if unknown and not create:
            count += n
            errors.append(
                RowError(
                    line,
                    "labels",
                    f"{_where(line, task)}unknown label {unknown[0]!r}; the project's labels are {listed} "
                    f"(add it in Settings, or import on the command line with --create)"
                    + (f"; {n} rows give this set" if n > 1 else ""),
                )
            )
        if not names and not project.allow_empty_label_set:
            count += n
            errors.append(
                RowError(
                    line,
                    "labels",
                    f'{_where(line, task)}an empty set ("none of these") but the project does not allow it'
                    + (f"; {n} rows give it" if n > 1 else ""),
                )
            )
    return errors, count


class _SpanCheck:
    """What checking a file's spans found: the errors (the first 50, and how many), the labels
    the file names that the project does not have (in order of appearance), whether some
    annotation's spans nest."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.error_count = 0
        self.new_labels: list[str] = []
        self.nested = False

    def error(self, line: int, field: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(RowError(line, field, message))


class _LabelsCreating(dict):
    """The project's labels by name for spans_clean, taking any new well-formed name too (with
    `create`): it gets a stand-in id and is remembered, in order, to be created."""

    def __init__(self, known: dict[str, int], new: list[str]):
        super().__init__(known)
        self.new = new

    def get(self, name, default=None):
        found = super().get(name)
        well_formed = name and len(name) <= MAX_LABEL_CHARS and LABEL_SEPARATOR not in name
        if found is None and well_formed and _bad_characters(name) is None:
            self.new.append(name)
            found = self[name] = -len(self.new)
        return found


def _span_rows(*, chunk: int = 5_000) -> Iterator[tuple[int, int, int, Any, str, str]]:
    """The staged span rows in file order, streamed: (seq, line, task, spans, the row's text,
    the example's text: Concord's for an example that exists, else its first text in the file)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT s.seq, s.line, s.task, s.spans, s.text, COALESCE(e.text, t.text, '') "
            f"FROM {STAGING_TABLE} AS s JOIN {EXAMPLES_TABLE} AS a ON a.external_id = s.external_id "
            f"LEFT JOIN {Example._meta.db_table} AS e ON e.id = a.example_id "
            f"LEFT JOIN {STAGING_TABLE} AS t ON t.seq = a.text_seq "
            "WHERE s.spans <> '' ORDER BY s.seq"
        )
        while rows := cursor.fetchmany(chunk):
            for seq, line, task, spans, text, example_text in rows:
                yield seq, line, task, json.loads(spans), text, example_text


def _spans_check(project: Project, *, create: bool, new_project: bool) -> _SpanCheck:
    """Every span row checked against its example's text and the project's labels and nesting
    rule (labeling.spans.spans_clean), errors by line and field. A row's own text must be the
    example's: the offsets count its characters. With `create`, unknown labels are to be made;
    a project the import creates lets spans nest when the file nests them."""
    check = _SpanCheck()
    known = dict(project.labels.values_list("name", "pk"))
    labels = _LabelsCreating(known, check.new_labels) if create else known
    may_nest = project.spans_may_nest or new_project
    for _, line, task, spans, text, example_text in _span_rows():
        where = _where(line, task)
        if text and text != example_text:
            check.error(
                line,
                "text",
                f"{where}the text is not the example's text (in Concord, or on its first row with a "
                "text); span offsets count the characters of one text",
            )
            continue
        try:
            cleaned = spans_clean(example_text, spans, labels=labels, may_nest=may_nest)
        except SpanError as exc:
            why = " (with --create, a new label's name has 1 to 100 characters and no |)" if create else ""
            check.error(line, exc.field, f"{where}{exc.message}{why if exc.field.endswith('.label') else ''}")
            continue
        if new_project and not check.nested:
            check.nested = any(b[0] < a[1] for a, b in zip(cleaned, cleaned[1:], strict=False))
    if new_project and check.nested and not check.error_count:
        Project.objects.filter(pk=project.pk).update(spans_may_nest=True)
        project.spans_may_nest = True
    return check


def _spans_stage(project: Project, *, chunk: int = 1_000) -> None:
    """The stored form of every span row (sorted [start, end, label id], as spans_clean gives
    it, now that every label exists) into a temporary table by row, a chunk at a time."""
    labels = dict(project.labels.values_list("name", "pk"))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {SPANS_TABLE} (seq bigint NOT NULL, spans text NOT NULL)")
        rows = _span_rows()
        while batch := list(islice(rows, chunk)):
            values = []
            for seq, _, _, spans, _, example_text in batch:
                cleaned = spans_clean(example_text, spans, labels=labels, may_nest=True)
                values += [seq, json.dumps(cleaned)]
            cursor.execute(
                f"INSERT INTO {SPANS_TABLE} (seq, spans) VALUES {', '.join(['(%s, %s)'] * len(batch))}",
                values,
            )


def _file_errors(
    project: Project,
    reader: AnnotationFileReader,
    *,
    create: bool,
    file_format: str = "",
    spans: _SpanCheck | None = None,
) -> tuple[list[RowError], int]:
    """The reader's errors plus those that need the whole file or the database (and the span
    check's); (first 50 by line, count of all)."""
    errors = list(reader.errors)
    count = reader.error_count
    if spans is not None:
        errors += spans.errors
        count += spans.error_count
    with connection.cursor() as cursor:
        shape_errors, n = _shape_errors(project, cursor, create=create, file_format=file_format)
        errors += shape_errors
        count += n
        # A rater labelling one example twice in the file.
        duplicates = (
            f"SELECT external_id, rater, MIN(seq) AS first_seq FROM {STAGING_TABLE} "
            "GROUP BY external_id, rater HAVING COUNT(*) > 1"
        )
        cursor.execute(
            f"SELECT COUNT(*) FROM {STAGING_TABLE} AS s JOIN ({duplicates}) AS d "
            "ON d.external_id = s.external_id AND d.rater = s.rater WHERE s.seq > d.first_seq"
        )
        n = cursor.fetchone()[0]
        if n:
            count += n
            cursor.execute(
                f"SELECT s.line, s.task, s.external_id, s.rater_name, f.line, f.task "
                f"FROM {STAGING_TABLE} AS s JOIN ({duplicates}) AS d "
                "ON d.external_id = s.external_id AND d.rater = s.rater "
                f"JOIN {STAGING_TABLE} AS f ON f.seq = d.first_seq "
                "WHERE s.seq > d.first_seq ORDER BY s.seq LIMIT %s",
                [MAX_ERRORS_KEPT],
            )
            for line, task, external_id, name, first_line, first_task in cursor.fetchall():
                first = f"task {first_task}" if first_task else f"line {first_line}"
                who = repr(name) if name else "this rater"
                errors.append(
                    RowError(
                        line,
                        "rater",
                        f"{_where(line, task)}{who} already labelled the example {external_id!r} ({first})",
                    )
                )
        # Labels the project does not have.
        if not create and project.task_type == TaskType.SINGLE:
            unknown = (
                f"FROM {STAGING_TABLE} AS s WHERE s.label <> '' AND NOT EXISTS (SELECT 1 FROM "
                f"{Label._meta.db_table} AS l WHERE l.project_id = %s AND l.name = s.label)"
            )
            cursor.execute(f"SELECT COUNT(*) {unknown}", [project.pk])
            n = cursor.fetchone()[0]
            if n:
                count += n
                names = ", ".join(repr(name) for name in project.labels.values_list("name", flat=True)[:20])
                cursor.execute(
                    f"SELECT s.line, s.task, s.label {unknown} ORDER BY s.seq LIMIT %s",
                    [project.pk, MAX_ERRORS_KEPT],
                )
                for line, task, label in cursor.fetchall():
                    errors.append(
                        RowError(
                            line,
                            "label",
                            f"{_where(line, task)}unknown label {label!r}; the project's labels are "
                            f"{names or 'none yet'} (add it in Settings, or import on the command "
                            "line with --create)",
                        )
                    )
        # New examples without a text.
        if not create:
            missing = f"FROM {EXAMPLES_TABLE} AS a WHERE a.example_id IS NULL AND a.text_seq IS NULL"
            cursor.execute(f"SELECT COUNT(*) {missing}")
            n = cursor.fetchone()[0]
            if n:
                count += n
                cursor.execute(
                    f"SELECT s.line, s.task, s.external_id FROM {STAGING_TABLE} AS s "
                    f"JOIN ({'SELECT a.first_seq ' + missing}) AS m ON m.first_seq = s.seq "
                    "ORDER BY s.seq LIMIT %s",
                    [MAX_ERRORS_KEPT],
                )
                for line, task, external_id in cursor.fetchall():
                    errors.append(
                        RowError(
                            line,
                            "example_id",
                            f"{_where(line, task)}unknown example {external_id!r} and no text to create "
                            "it (the command line's --create stores it without a text)",
                        )
                    )
    errors.sort(key=lambda error: error.line)
    return errors[:MAX_ERRORS_KEPT], count


def _write(
    project: Project,
    batch: ImportBatch,
    *,
    staged: int,
    reader: AnnotationFileReader,
    options: dict,
    spans: _SpanCheck | None = None,
) -> dict[str, Any]:
    """Everything the import writes, in the caller's transaction; returns the batch summary."""
    summary: dict[str, Any] = {"cancelled": reader.cancelled}
    summary["labels_created"] = _labels_create(project, spans) if options.get("create") else []
    if spans is not None:
        _spans_stage(project)
    with connection.cursor() as cursor:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        cursor.execute(f"SELECT COUNT(*) FROM {EXAMPLES_TABLE} WHERE example_id IS NULL AND text_seq IS NULL")
        summary["examples_without_text"] = cursor.fetchone()[0]
        postgres = connection.vendor == "postgresql"
        if postgres:
            # Take the new examples' ids from their sequence first, so they need no lookup by
            # external id afterwards (at a million annotations that join costs seconds).
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Example._meta.db_table])
            sequence = cursor.fetchone()[0]
            cursor.execute(
                f"UPDATE {EXAMPLES_TABLE} SET example_id = nextval(%s::regclass), created = 1 "
                "WHERE example_id IS NULL",
                [sequence],
            )
        cursor.execute(
            f"INSERT INTO {Example._meta.db_table} (id, project_id, external_id, text, data, metadata, "
            "import_batch_id, annotation_count, extra_raters, created_at) "
            # Every row of a new example becomes one of its annotations (a rater twice on one
            # example was an error), so its count is known now and needs no update later. (SQLite
            # numbers the rows itself: its example_id is still NULL here.)
            f"SELECT a.example_id, %s, a.external_id, s.text, %s, s.metadata, %s, a.n, 0, %s "
            f"FROM {EXAMPLES_TABLE} AS a JOIN {STAGING_TABLE} AS s "
            "ON s.seq = COALESCE(a.text_seq, a.first_seq) "
            f"WHERE {'a.created = 1' if postgres else 'a.example_id IS NULL'} ORDER BY a.first_seq",
            [project.pk, "{}", batch.pk, now],
        )
        summary["examples_created"] = cursor.rowcount
        if not postgres:
            _link_examples(cursor, project, created=True)
    summary.update(_raters(project, batch))
    users = get_user_model()._meta.db_table
    annotations = Annotation._meta.db_table
    multi = project.task_type == TaskType.MULTI
    with connection.cursor() as cursor:
        if spans is not None:
            answer = "CAST(NULL AS bigint) AS label_id, CAST(NULL AS text) AS labels, sp.spans AS spans"
            join = f"JOIN {SPANS_TABLE} AS sp ON sp.seq = s.seq"
            params = []
        elif multi:
            # Each distinct set of names once, as the sorted label ids an annotation stores.
            ids = dict(project.labels.values_list("name", "pk"))
            cursor.execute(f"CREATE TEMP TABLE {LABELSETS_TABLE} (names text NOT NULL, ids text NOT NULL)")
            cursor.executemany(
                f"INSERT INTO {LABELSETS_TABLE} (names, ids) VALUES (%s, %s)",
                [
                    (raw, json.dumps(sorted(ids[name] for name in names)))
                    for raw, names, *_ in _file_sets(cursor)
                ],
            )
            answer = "CAST(NULL AS bigint) AS label_id, ls.ids AS labels, CAST(NULL AS text) AS spans"
            join = f"JOIN {LABELSETS_TABLE} AS ls ON ls.names = s.labels"
            params = []
        else:
            answer = "l.id AS label_id, CAST(NULL AS text) AS labels, CAST(NULL AS text) AS spans"
            join = f"JOIN {Label._meta.db_table} AS l ON l.project_id = %s AND l.name = s.label"
            params = [project.pk]
        # Rows whose rater has no annotation of the example yet (current or superseded).
        cursor.execute(
            f"CREATE TEMP TABLE {NEW_TABLE} AS "
            f"SELECT s.seq, a.example_id, a.created, u.id AS rater_id, {answer} "
            f"FROM {STAGING_TABLE} AS s JOIN {EXAMPLES_TABLE} AS a ON a.external_id = s.external_id "
            f"JOIN {users} AS u ON u.username = s.rater {join} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {annotations} AS x "
            "WHERE x.example_id = a.example_id AND x.rater_id = u.id)",
            params,
        )
        cursor.execute(f"SELECT COUNT(*) FROM {NEW_TABLE}")
        created = cursor.fetchone()[0]
        labels_value = "CAST(labels AS jsonb)" if postgres else "labels"
        spans_value = "CAST(spans AS jsonb)" if postgres else "spans"
        cursor.execute(
            f"INSERT INTO {annotations} (example_id, rater_id, label_id, labels, spans, "
            "guideline_version_id, ambiguous, ambiguous_note, note, time_spent_ms, client_token, source, "
            "superseded_at, "
            f"created_at, updated_at) SELECT example_id, rater_id, label_id, {labels_value}, {spans_value}, "
            "NULL, %s, "
            f"'', '', NULL, NULL, %s, NULL, %s, %s FROM {NEW_TABLE} ORDER BY seq",
            [False, Annotation.Source.IMPORT, now, now],
        )
        example_table = Example._meta.db_table
        # Examples that existed before: raise their counts, which also locks their rows for the
        # rules below (the new ones are invisible to everyone else until the commit).
        cursor.execute(
            f"UPDATE {example_table} SET annotation_count = {example_table}.annotation_count + c.n "
            f"FROM (SELECT example_id, COUNT(*) AS n FROM {NEW_TABLE} WHERE created = 0 "
            f"GROUP BY example_id) AS c WHERE {example_table}.id = c.example_id"
        )
        cursor.execute(f"SELECT DISTINCT example_id FROM {NEW_TABLE} WHERE created = 0 ORDER BY example_id")
        existing = [example_id for (example_id,) in cursor.fetchall()]
    summary["annotations_created"] = created
    summary["annotations_skipped"] = staged - created
    if options.get("new_project"):
        summary["project"] = _new_project_rules(project)
    # A large import can be most of these tables' rows, which their planner statistics have not
    # seen: refresh them (PostgreSQL's advice after a bulk load), or the rules' lookups by id
    # would be planned as if the tables were empty.
    if created > STATISTICS_REFRESH_ROWS:
        _analyze(Example._meta.db_table, annotations)
    # The rules, on every example that got an annotation: those that existed before under the
    # row locks the count update took, with whatever they had; the new ones from their votes.
    decisions = examples_decide(project=project, example_ids=existing)
    column = "spans" if spans is not None else "labels" if multi else "label_id"
    decisions.add(new_examples_decide(project=project, votes=_new_example_votes(column)))
    summary["decisions"] = decisions.as_dict()
    return summary


def _new_example_votes(column: str) -> Iterator[tuple[int, list]]:
    """Each example this import created, with its answers in file order (the order of their ids),
    streamed from the temporary table: `column` label_id, labels (label sets as sorted tuples of
    ids) or spans (sorted tuples of (start, end, label id))."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT example_id, {column} FROM {NEW_TABLE} WHERE created = 1 ORDER BY example_id, seq"
        )
        current, labels = None, []
        while rows := cursor.fetchmany(10_000):
            for example_id, answer in rows:
                if example_id != current:
                    if current is not None:
                        yield current, labels
                    current, labels = example_id, []
                if column == "labels":
                    answer = tuple(sorted(json.loads(answer)))
                elif column == "spans":
                    answer = tuple(sorted(tuple(span) for span in json.loads(answer)))
                labels.append(answer)
        if current is not None:
            yield current, labels


def _new_project_rules(project: Project) -> dict[str, Any]:
    """A project this import created takes its overlap from the file (the most common number
    of raters per example) and accepts majorities: the labels are finished work, so only real
    splits go to the review queue. Set directly: no re-deciding job, the import decides next."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT n FROM {EXAMPLES_TABLE} GROUP BY n ORDER BY COUNT(*) DESC, n DESC LIMIT 1")
        found = cursor.fetchone()
    overlap = max(1, min(MOST_OVERLAP, int(found[0]) if found else project.overlap))
    Project.objects.filter(pk=project.pk).update(overlap=overlap, accept_majority=True)
    project.overlap, project.accept_majority = overlap, True
    return {"overlap": overlap, "accept_majority": True, "majority_threshold": project.majority_threshold}


def _labels_create(project: Project, spans: _SpanCheck | None = None) -> list[str]:
    """Add the file's labels the project does not have, in order of first appearance."""
    with connection.cursor() as cursor:
        if spans is not None:
            names = spans.new_labels
        elif project.task_type == TaskType.MULTI:
            known = set(project.labels.values_list("name", flat=True))
            names = []
            for _, names_in_set, *_ in _file_sets(cursor):
                names += [name for name in names_in_set if name not in known and name not in names]
        else:
            cursor.execute(
                f"SELECT s.label FROM {STAGING_TABLE} AS s WHERE NOT EXISTS (SELECT 1 FROM "
                f"{Label._meta.db_table} AS l WHERE l.project_id = %s AND l.name = s.label) "
                "GROUP BY s.label ORDER BY MIN(s.seq)",
                [project.pk],
            )
            names = [name for (name,) in cursor.fetchall()]
    if not names:
        return []
    used = set(project.labels.values_list("shortcut_key", flat=True))
    free = [k for k in SHORTCUT_KEYS if k not in used]
    if len(names) > len(free):
        raise ApplicationError(
            f"The file has {len(names)} new labels but only {len(free)} shortcut keys are free."
        )
    start = project.labels.count()
    Label.objects.bulk_create(
        Label(
            project=project,
            name=name,
            shortcut_key=free[i],
            colour=LABEL_COLOURS[(start + i) % len(LABEL_COLOURS)],
            position=start + i,
        )
        for i, name in enumerate(names)
    )
    return names


def _raters(project: Project, batch: ImportBatch) -> dict[str, Any]:
    """Accounts for unknown raters (inactive, no password) and labeler memberships for raters
    who are not members yet."""
    User = get_user_model()  # noqa: N806
    with connection.cursor() as cursor:
        # MAX: a Label Studio user seen once with an email and once as a bare id keeps the email.
        cursor.execute(f"SELECT rater, MAX(rater_name) FROM {STAGING_TABLE} GROUP BY rater ORDER BY MIN(seq)")
        raters = cursor.fetchall()
    found: dict[str, int] = {}
    for start in range(0, len(raters), 2000):
        chunk = [username for username, _ in raters[start : start + 2000]]
        found.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    labelstudio = batch.file_format == "labelstudio"
    unusable = make_password(None)
    missing = [(username, name) for username, name in raters if username not in found]
    User.objects.bulk_create(
        [
            User(
                username=username,
                first_name=name[:MAX_RATER_CHARS] if name != username else "",
                email=name if labelstudio and "@" in name and len(name) <= 254 else "",
                is_active=False,
                password=unusable,
            )
            for username, name in missing
        ],
        batch_size=2000,
        # Another import may be creating the same rater right now: its account is used instead.
        ignore_conflicts=True,
    )
    for start in range(0, len(missing), 2000):
        chunk = [username for username, _ in missing[start : start + 2000]]
        found.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    members = set(project.memberships.values_list("user_id", flat=True))
    Membership.objects.bulk_create(
        [
            Membership(user_id=user_id, project=project, role=Role.LABELER)
            for user_id in found.values()
            if user_id not in members
        ],
        batch_size=2000,
    )
    renamed = [
        [name, username] for username, name in missing if name and name != username and not labelstudio
    ]
    return {"raters_created": len(missing), "raters_renamed": renamed[:RENAMED_RATERS_SHOWN]}


IMPORTER = Importer(
    kind=ImportBatch.Kind.ANNOTATIONS,
    formats=FORMATS,
    format_from_name=format_from_name,
    run=lambda batch: annotation_import_run(batch),
    options_clean=annotation_import_options_clean,
    cleanup=_staging_drop,
)


# --------------------------------------------------------------------------------------------------
# The command line


def annotations_import_file(
    *, slug: str, path, create: bool = False, file_format: str | None = None, from_name: str = ""
) -> ImportBatch:
    """Import a file into project `slug` in this process (the command line), as the worker would.

    With `create`, a missing project is made first (and deleted again if the import fails, so a
    failed import leaves nothing behind). Returns the finished batch; ApplicationError when the
    project is missing or the file cannot be used at all.
    """
    project = Project.objects.filter(slug=slug).first()
    new_project = False
    if project is None:
        if not create:
            raise ApplicationError(f"No project with slug {slug!r}; pass --create to make it.")
        project = _project_create(slug)
        new_project = True
    try:
        try:
            batch = import_batch_create(
                project=project,
                user=None,
                uploaded_file_or_path=path,
                source_name=str(getattr(path, "name", path)),
                file_format=file_format,
                kind=ImportBatch.Kind.ANNOTATIONS,
                options={"create": create, "from_name": from_name, "new_project": new_project},
                run_in_background=False,
            )
        except ValidationError as exc:
            raise ApplicationError(" ".join(exc.messages)) from None
        batch = import_batch_run(batch_id=batch.pk)
    except BaseException:
        if new_project:
            project.delete()
        raise
    if new_project and batch.status != ImportBatch.Status.SUCCEEDED:
        errors, error_count = batch.errors, batch.error_count
        project.delete()  # the batch goes with it; the caller still holds its errors
        batch.errors, batch.error_count = errors, error_count
    return batch


def _project_create(slug: str) -> Project:
    # Imported here: projects.services.projects imports consistency.models, which is fine, but
    # keeping it local documents that only the command line creates projects from a file.
    from projects.services.projects import project_create

    if slugify(slug) != slug:
        raise ApplicationError(f"{slug!r} is not a valid slug (lowercase letters, digits and -).")
    try:
        return project_create(name=slug, slug=slug, creator=None)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages)) from None
