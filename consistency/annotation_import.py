"""Importing annotations made elsewhere (long CSV/JSONL, or a Label Studio JSON export), all or nothing.

`annotation_file_read` is pure: it turns a file into rows and errors (line or task, field, message).
`annotations_import` is the service: it checks the rows against the database, and writes nothing
unless every row is valid. Rules (also in the command's help):

- Long format: one row per annotation with `example_id`, `rater`, `label`; an optional `text`; any
  other column is metadata, used only for examples the import creates.
- Unknown raters become inactive accounts (unusable password) with a labeler membership; known users
  who are not members get a labeler membership too.
- Unknown example ids are created when the row has a text, else the row is an error.
- Unknown labels are an error, unless `create` (then they are added, with shortcut keys 1-9 and then
  letters other than a, s, u, n).
- A rater labelling the same example twice in the file is an error. A rater who already labelled an
  example in Concord keeps that annotation: the file's row is skipped and counted.
- Imported annotations have source "import" and no guideline version.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.text import slugify

from core.errors import ApplicationError
from labeling.models import Annotation
from projects.models import RESERVED_SHORTCUT_KEYS, Example, Label, Membership, Project, Role

FORMATS = ("csv", "jsonl", "labelstudio")
MAX_ERRORS_SHOWN = 50
REQUIRED_COLUMNS = ("example_id", "rater", "label")
SHORTCUT_KEYS = [k for k in "123456789abcdefghijklmnopqrstuvwxyz" if k not in RESERVED_SHORTCUT_KEYS]
LABEL_COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6"]
BATCH = 2000


class RowError(NamedTuple):
    where: str  # "line 7" or "task 3"
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.where}, field {self.field}: {self.message}"
            if self.field
            else f"{self.where}: {self.message}"
        )


class AnnotationRow(NamedTuple):
    where: str
    example_id: str
    rater: str
    label: str
    text: str | None
    metadata: dict


class AnnotationImportError(ApplicationError):
    """The file has invalid rows; `errors` lists them all (callers show the first 50)."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} error(s); nothing was imported.")
        self.errors = errors


@dataclass
class ImportSummary:
    project: Project
    created_project: bool = False
    annotations_created: int = 0
    annotations_skipped: int = 0
    examples_created: int = 0
    labels_created: list[str] = field(default_factory=list)
    raters_created: list[str] = field(default_factory=list)


def format_from_name(name: str) -> str | None:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith(".json"):
        return "labelstudio"
    return None


# --------------------------------------------------------------------------------------------------
# Reading (pure)


def annotation_file_read(stream: BinaryIO, file_format: str) -> tuple[list[AnnotationRow], list[RowError]]:
    """Parse and check the fields of every row; duplicates of (example, rater) in the file are errors."""
    if file_format not in FORMATS:
        raise ValueError(f"unknown format {file_format!r}")
    raw = stream.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [RowError(f"line {line}", "", "The file is not valid UTF-8.")]
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return [], [RowError(f"line {line}", "", "The file contains a NUL byte; is it really text?")]
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "labelstudio": _read_labelstudio}[file_format]
    rows: list[AnnotationRow] = []
    errors: list[RowError] = []
    for item in reader(text):
        (errors if isinstance(item, RowError) else rows).append(item)
    first_seen: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (row.example_id, row.rater)
        if key in first_seen:
            errors.append(
                RowError(
                    row.where,
                    "rater",
                    f"Rater {row.rater!r} already labelled example {row.example_id!r} ({first_seen[key]}).",
                )
            )
        else:
            first_seen[key] = row.where
    return rows, errors


def _clean(
    value: Any, where: str, name: str, *, limit: int, required: bool = True
) -> tuple[str | None, RowError | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, (RowError(where, name, "This field is required.") if required else None)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None, RowError(where, name, "Must be a string.")
    value = str(value).strip()
    if len(value) > limit:
        return None, RowError(where, name, f"Longer than {limit} characters.")
    return value, None


_username_validator = UnicodeUsernameValidator()


def _row(where: str, record: dict, *, text_key: str = "text") -> AnnotationRow | list[RowError]:
    errors = []
    example_id, e1 = _clean(
        record.get("example_id"), where, "example_id", limit=settings.CONCORD_IMPORT_MAX_ID_CHARS
    )
    rater, e2 = _clean(record.get("rater"), where, "rater", limit=150)
    label, e3 = _clean(record.get("label"), where, "label", limit=100)
    errors += [e for e in (e1, e2, e3) if e]
    if rater is not None:
        try:
            _username_validator(rater)
        except ValidationError:
            errors.append(RowError(where, "rater", "Use letters, digits and @ . + - _ only."))
    text = record.get(text_key)
    if text is not None and not isinstance(text, str):
        errors.append(RowError(where, "text", "Must be a string."))
    elif text is not None and len(text) > settings.CONCORD_IMPORT_MAX_TEXT_CHARS:
        errors.append(
            RowError(where, "text", f"Longer than {settings.CONCORD_IMPORT_MAX_TEXT_CHARS} characters.")
        )
    elif text is not None and not text.strip():
        text = None
    metadata = {k: v for k, v in record.items() if k not in (*REQUIRED_COLUMNS, text_key)}
    if len(json.dumps(metadata)) > settings.CONCORD_IMPORT_MAX_METADATA_CHARS:
        errors.append(RowError(where, "metadata", "The other columns are too long to keep as metadata."))
    if errors:
        return errors
    return AnnotationRow(where, example_id, rater, label, text, metadata)


def _read_csv(text: str) -> Iterator[AnnotationRow | RowError]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        yield RowError("line 1", "", f"Not valid CSV ({exc}).")
        return
    if not header:
        yield RowError("line 1", "", "The file is empty; expected a header with example_id, rater, label.")
        return
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        yield RowError("line 1", ", ".join(missing), "Missing column(s) in the header.")
        return
    duplicates = [h for h, n in Counter(header).items() if n > 1]
    if duplicates:
        yield RowError("line 1", ", ".join(duplicates), "Column named more than once.")
        return
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(f"line {reader.line_num}", "", f"Not valid CSV ({exc}).")
            return
        where = f"line {reader.line_num}"
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield RowError(where, "", f"Expected {len(header)} columns, found {len(values)}.")
            continue
        result = _row(where, dict(zip(header, values, strict=True)))
        yield from (result if isinstance(result, list) else [result])


def _read_jsonl(text: str) -> Iterator[AnnotationRow | RowError]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(where, "", f"Not valid JSON ({exc.msg}).")
            continue
        if not isinstance(record, dict):
            yield RowError(where, "", "Each line must be a JSON object.")
            continue
        result = _row(where, record)
        yield from (result if isinstance(result, list) else [result])


def _labelstudio_rater(completed_by: Any) -> str | None:
    if isinstance(completed_by, dict):
        if completed_by.get("email"):
            return str(completed_by["email"])
        completed_by = completed_by.get("id")
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return f"labelstudio-{completed_by}"
    if isinstance(completed_by, str) and completed_by.strip():
        return completed_by.strip()
    return None


def _read_labelstudio(text: str) -> Iterator[AnnotationRow | RowError]:
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        yield RowError(f"line {exc.lineno}", "", f"Not valid JSON ({exc.msg}).")
        return
    if not isinstance(tasks, list):
        yield RowError("task 0", "", "A Label Studio export is a JSON list of tasks.")
        return
    for number, task in enumerate(tasks, start=1):
        where = f"task {number}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            yield RowError(where, "data", "Each task must be an object with a `data` object.")
            continue
        if task.get("id") is None:
            yield RowError(where, "id", "This field is required.")
            continue
        data = task["data"]
        annotations = task.get("annotations")
        if not isinstance(annotations, list):
            yield RowError(where, "annotations", "Must be a list.")
            continue
        for index, annotation in enumerate(annotations):
            name = f"annotations[{index}]"
            if not isinstance(annotation, dict):
                yield RowError(where, name, "Must be an object.")
                continue
            if annotation.get("was_cancelled"):
                continue  # skipped in Label Studio: not a label
            choices = [
                r.get("value", {}).get("choices")
                for r in annotation.get("result") or []
                if isinstance(r, dict) and r.get("type") == "choices" and isinstance(r.get("value"), dict)
            ]
            if len(choices) != 1 or not isinstance(choices[0], list) or len(choices[0]) != 1:
                yield RowError(
                    where, f"{name}.result", "Expected exactly one `choices` result with one choice."
                )
                continue
            rater = _labelstudio_rater(annotation.get("completed_by"))
            if rater is None:
                yield RowError(where, f"{name}.completed_by", "Missing or not a user id or {email}.")
                continue
            record = {
                **{k: v for k, v in data.items() if k != "text"},
                "example_id": task["id"],
                "rater": rater,
                "label": choices[0][0],
                "text": data.get("text"),
            }
            result = _row(where, record)
            if isinstance(result, list):
                yield from (
                    e._replace(field=f"{name}.{e.field}" if e.field in ("rater", "label") else e.field)
                    for e in result
                )
            else:
                yield result


# --------------------------------------------------------------------------------------------------
# Writing (the service)


def _chunks(values: list, size: int = BATCH) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def annotations_import(*, slug: str, rows: list[AnnotationRow], create: bool = False) -> ImportSummary:
    """Write `rows` into project `slug` in one transaction; on any invalid row raise
    AnnotationImportError and write nothing."""
    with transaction.atomic():
        project = Project.objects.select_for_update().filter(slug=slug).first()
        summary = ImportSummary(project=project)  # type: ignore[arg-type]
        if project is None:
            if not create:
                raise ApplicationError(f"No project with slug {slug!r}; pass --create to make it.")
            if slugify(slug) != slug:
                raise ApplicationError(f"{slug!r} is not a valid slug (lowercase letters, digits and -).")
            project = Project.objects.create(name=slug, slug=slug)
            summary.project, summary.created_project = project, True
        errors: list[RowError] = []

        # Labels.
        labels = dict(project.labels.values_list("name", "id"))
        new_labels = list(dict.fromkeys(row.label for row in rows if row.label not in labels))
        if new_labels and not create:
            for row in rows:
                if row.label not in labels:
                    errors.append(
                        RowError(
                            row.where, "label", f"Unknown label {row.label!r} (pass --create to add it)."
                        )
                    )

        # Examples.
        external_ids = list(dict.fromkeys(row.example_id for row in rows))
        examples: dict[str, int] = {}
        for chunk in _chunks(external_ids):
            examples.update(project.examples.filter(external_id__in=chunk).values_list("external_id", "id"))
        ids_with_text = {row.example_id for row in rows if row.text is not None}
        for row in rows:
            if row.example_id not in examples and row.example_id not in ids_with_text:
                errors.append(
                    RowError(
                        row.where,
                        "example_id",
                        f"Unknown example {row.example_id!r} and no text to create it.",
                    )
                )
        if errors:
            raise AnnotationImportError(errors)

        if new_labels:
            summary.labels_created = _labels_create(project, new_labels)
            labels = dict(project.labels.values_list("name", "id"))

        # Examples with text: created from the first row that has a text.
        with_text = {
            row.example_id: row
            for row in reversed(rows)
            if row.text is not None and row.example_id not in examples
        }
        Example.objects.bulk_create(
            [
                Example(project=project, external_id=ex_id, text=row.text, metadata=row.metadata)
                for ex_id, row in with_text.items()
            ],
            batch_size=BATCH,
        )
        summary.examples_created = len(with_text)
        for chunk in _chunks(list(with_text)):
            examples.update(project.examples.filter(external_id__in=chunk).values_list("external_id", "id"))

        raters = _raters_get_or_create(project, list(dict.fromkeys(row.rater for row in rows)), summary)

        existing: set[tuple[int, int]] = set()
        rater_ids = list(set(raters.values()))
        for chunk in _chunks(rater_ids, 500):
            existing.update(
                Annotation.objects.filter(example__project=project, rater_id__in=chunk).values_list(
                    "example_id", "rater_id"
                )
            )
        new = []
        per_example: Counter[int] = Counter()
        for row in rows:
            example_id, rater_id = examples[row.example_id], raters[row.rater]
            if (example_id, rater_id) in existing:
                summary.annotations_skipped += 1
                continue
            new.append(
                Annotation(
                    example_id=example_id,
                    rater_id=rater_id,
                    label_id=labels[row.label],
                    guideline_version=None,
                    source=Annotation.Source.IMPORT,
                )
            )
            per_example[example_id] += 1
        Annotation.objects.bulk_create(new, batch_size=BATCH)
        summary.annotations_created = len(new)
        # One UPDATE per distinct increment, not one per example.
        by_increment: dict[int, list[int]] = defaultdict(list)
        for example_id, n in per_example.items():
            by_increment[n].append(example_id)
        for n, ids in by_increment.items():
            for chunk in _chunks(ids):
                Example.objects.filter(pk__in=chunk).update(annotation_count=F("annotation_count") + n)
    return summary


def _labels_create(project: Project, names: list[str]) -> list[str]:
    used = set(project.labels.values_list("shortcut_key", flat=True))
    free = [k for k in SHORTCUT_KEYS if k not in used]
    if len(names) > len(free):
        raise ApplicationError(
            f"The file has {len(names)} new labels but only {len(free)} shortcut keys are free."
        )
    start = project.labels.count()
    Label.objects.bulk_create(
        [
            Label(
                project=project,
                name=name,
                shortcut_key=free[i],
                colour=LABEL_COLOURS[(start + i) % len(LABEL_COLOURS)],
                position=start + i,
            )
            for i, name in enumerate(names)
        ]
    )
    return names


def _raters_get_or_create(project: Project, usernames: list[str], summary: ImportSummary) -> dict[str, int]:
    User = get_user_model()  # noqa: N806
    found: dict[str, int] = {}
    for chunk in _chunks(usernames):
        found.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    missing = [name for name in usernames if name not in found]
    unusable = make_password(None)
    User.objects.bulk_create(
        [User(username=name, is_active=False, password=unusable) for name in missing], batch_size=BATCH
    )
    summary.raters_created = missing
    for chunk in _chunks(missing):
        found.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    members = set(project.memberships.values_list("user_id", flat=True))
    Membership.objects.bulk_create(
        [
            Membership(user_id=user_id, project=project, role=Role.LABELER)
            for user_id in dict.fromkeys(found.values())
            if user_id not in members
        ],
        batch_size=BATCH,
    )
    return found
