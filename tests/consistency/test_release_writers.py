"""The release file writers, without a database: the CSV writer quotes cells exactly as Python's
csv module does (RFC 4180 dialect) and as PostgreSQL's COPY does (which also quotes an empty text),
and both parse back to the cells; the JSONL writer's lines are the canonical jsonb text."""

import csv
import io
import json
import random

import pytest
from django.db import connection

from consistency.releases.policy import csv_cell, jsonb_text, span_objects, spans_label_text
from consistency.releases.writers import CsvWriter, HashingSink, JsonlWriter

ALPHABET = ['"', ",", "\r", "\n", "\t", "=", "+", "-", "@", "'", " ", "a", "é", "🙂", "\x01", "\\", "\u2028"]


def _rows(n: int, *, spans: bool = False) -> list[tuple]:
    rng = random.Random(3)

    def text() -> str:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 6)))

    rows = []
    for i in range(n):
        metadata = {text(): text(), "n": i}
        raters = None if i % 3 == 0 else {f"r_{i}": text()}
        rationale = [None, "", text()][i % 3]
        # Every fifth row is multi-label: its names as a list, and joined by "|" in `label`.
        names = [text() or "x" for _ in range(i % 3)] if i % 5 == 0 else None
        label = "|".join(names) if names is not None else text() or "x"
        # With `spans`, every other row is a span row: its spans, and their text in `label`.
        found = [[0, 2, text() or "x"], [i, i + 1, "PER"]][: i % 3] if spans and i % 2 else None
        if found is not None:
            names, label = None, spans_label_text(found)
        rows.append(
            (
                f"{text()}-{i}", text(), label, "gold", "dev", None if i % 4 == 0 else "0.6667",
                str(i % 5), jsonb_text([1, i]), jsonb_text(metadata), rationale,
                None if raters is None else jsonb_text(raters), None if names is None else jsonb_text(names),
                None if found is None else jsonb_text(span_objects(found)),
            )
        )  # fmt: skip
    return rows


def _written(writer_class, rows, **options) -> bytes:
    out = io.BytesIO()
    writer = writer_class(HashingSink(out), include_rationale=True, include_raters=True, **options)
    writer.start()
    for start in range(0, len(rows), 7):
        writer.write_rows(rows[start : start + 7])
    writer.finish()
    return out.getvalue()


def test_rfc_dialect_is_what_the_csv_module_writes():
    rows = _rows(300)
    expected = io.StringIO()
    reference = csv.writer(expected, lineterminator="\r\n")
    reference.writerow([*CsvWriter.__init__.__globals__["CSV_COLUMNS"], "rationale", "raters"])
    for eid, text, label, source, split, agreement, n, versions, metadata, rationale, raters, _, _ in rows:
        cells = [eid, text, label, source, split, agreement, n, versions, metadata, rationale, raters]
        reference.writerow([csv_cell(cell) for cell in cells])
    assert _written(CsvWriter, rows, copy_dialect=False) == expected.getvalue().encode()


def test_copy_dialect_quotes_empty_text_but_not_a_missing_value_and_parses_back():
    rows = _rows(300)
    data = _written(CsvWriter, rows, copy_dialect=True).decode()
    parsed = list(csv.reader(io.StringIO(data, newline="")))
    assert len(parsed) == len(rows) + 1
    for row, cells in zip(rows, parsed[1:], strict=True):
        assert cells == [csv_cell(cell) for cell in row[:-2]]
    plain = ("e1", "", "bug", "gold", "dev", None, "3", "[]", "{}")
    empty, missing = (*plain, "", None, None, None), (*plain, None, None, None, None)
    assert _written(CsvWriter, [empty, missing], copy_dialect=True).decode().split("\n")[1:] == [
        'e1,"",bug,gold,dev,,3,[],{},"",',
        'e1,"",bug,gold,dev,,3,[],{},,',
        "",
    ]


FORMULA_SAFE_SQL = (
    "CASE WHEN left({c}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || {c} ELSE {c} END"
)


@pytest.mark.postgres
@pytest.mark.django_db
def test_copy_dialect_is_what_postgresql_copy_writes():
    rows = _rows(300)
    columns = ["external_id", "text", "label", "source", "split", "agreement", "n_raters",
               "guideline_versions", "metadata", "rationale", "raters"]  # fmt: skip
    safe = ("external_id", "text", "label", "rationale")
    select = ", ".join(f"{FORMULA_SAFE_SQL.format(c=c)} AS {c}" if c in safe else c for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE writer_rows (n int, {', '.join(f'{c} text' for c in columns)})")
        cursor.executemany(
            f"INSERT INTO writer_rows VALUES (%s, {', '.join(['%s'] * len(columns))})",
            [(n, *row[:-2]) for n, row in enumerate(rows)],
        )
        out = io.BytesIO()
        cursor.cursor.copy_expert(
            f"COPY (SELECT {select} FROM writer_rows ORDER BY n) TO STDOUT WITH (FORMAT csv, HEADER)", out
        )
        cursor.execute("DROP TABLE writer_rows")
    assert _written(CsvWriter, rows, copy_dialect=True) == out.getvalue()


def test_jsonl_lines_are_canonical_jsonb_text():
    rows = _rows(100, spans=True)
    lines = _written(JsonlWriter, rows).decode().split("\n")
    assert lines.pop() == ""
    for row, line in zip(rows, lines, strict=True):
        eid, text, label, source, split, agreement, n, versions, metadata, rationale, raters, names, spans = (
            row
        )
        if names is not None:  # a multi-label row's label is the list of its names
            label = json.loads(names)
        value = {
            "external_id": eid, "text": text, "label": label, "source": source, "split": split,
            "agreement": None if agreement is None else json.loads(agreement), "n_raters": int(n),
            "guideline_versions": json.loads(versions), "metadata": json.loads(metadata),
            "rationale": rationale, "raters": None if raters is None else json.loads(raters),
        }  # fmt: skip
        if spans is not None:  # a span row's spans, spaCy's objects, next to its label text
            value["spans"] = json.loads(spans)
        expected = jsonb_text(value)
        if agreement is not None:  # jsonb keeps the number as written: 0.6667, not a float's repr
            expected = expected.replace('"agreement": 0.6667', f'"agreement": {agreement}')
        assert line == expected


def test_rows_out_of_external_id_order_stop_the_build():
    """The files are written in the order PostgreSQL streams the rows (out of the items' insert):
    a row out of external id order, within a batch or across batches, is refused, not written."""
    from consistency.releases.selectors import CopyRows
    from core.errors import ApplicationError

    def copy_line(external_id: str) -> bytes:
        return (
            "\x02".join(
                [external_id, "text", "bug", "gold", "dev", "", "3", "[]", "{}", "", "", "", ""]
            ).encode()
            + b"\n"
        )

    batches = []
    sink = CopyRows(batches.append)
    for external_id in ("a", "b", "é"):  # code point order, as COLLATE "C"
        sink.write(copy_line(external_id))
    sink.flush()
    assert [row[0] for row in batches[0]] == ["a", "b", "é"]
    assert sink.count == 3
    sink.write(copy_line("c"))  # after "é": out of order across batches
    with pytest.raises(ApplicationError):
        sink.flush()
    sink = CopyRows(batches.append)
    for external_id in ("a", "c", "b"):
        sink.write(copy_line(external_id))
    with pytest.raises(ApplicationError):
        sink.flush()
