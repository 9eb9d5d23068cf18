"""The streaming reader and validator of example files (no database)."""

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.importing import (
    ExampleFileReader,
    ImportLimits,
    derived_external_id,
    format_from_name,
)


def read(data: bytes, file_format: str = "csv", **limits):
    reader = ExampleFileReader(io.BytesIO(data), file_format, ImportLimits(**limits))
    rows = list(reader)
    return rows, reader


def only_error(reader):
    assert reader.error_count == 1, reader.errors
    return reader.errors[0]


def test_csv_rows_with_id_text_and_metadata():
    rows, reader = read(b"id,text,channel,language\nt-1,Hello there,email,en\nt-2,Second,chat,de\n")
    assert reader.error_count == 0
    assert rows == [
        (2, "t-1", "Hello there", '{"channel": "email", "language": "en"}'),
        (3, "t-2", "Second", '{"channel": "chat", "language": "de"}'),
    ]
    assert json.loads(rows[0][3]) == {"channel": "email", "language": "en"}


def test_quoted_value_spanning_lines_reports_the_line_where_the_row_starts():
    data = b'id,text\n1,"first\nsecond line"\n2,"x,y"\n3,\n'
    rows, reader = read(data)
    assert [(line, text) for line, _, text, _ in rows] == [(2, "first\nsecond line"), (4, "x,y")]
    assert only_error(reader)[:2] == (5, "text")


def test_bom_is_removed_and_crlf_line_endings_work():
    rows, reader = read(b"\xef\xbb\xbfid,text\r\n1,caf\xc3\xa9\r\n")
    assert reader.error_count == 0
    assert rows == [(2, "1", "café", "{}")]


def test_formula_like_text_is_kept_verbatim():
    data = b'text\n=SUM(A1:A3)\n+1\n-2\n@cmd\n"=HYPERLINK(""http://x"")"\n'
    rows, _ = read(data)
    assert [text for _, _, text, _ in rows] == ["=SUM(A1:A3)", "+1", "-2", "@cmd", '=HYPERLINK("http://x")']


def test_without_id_column_the_id_is_derived_from_the_text_and_stable():
    rows, reader = read(b"text\nsame words\n")
    assert rows[0][1] == derived_external_id("same words")
    assert rows[0][1].startswith("sha1:")
    assert len(rows[0][1]) == 21
    assert reader.used_derived_ids


def test_tsv():
    rows, reader = read(b"id\ttext\tsource\n7\ta, b and c\tweb\n", "tsv")
    assert reader.error_count == 0
    assert rows == [(2, "7", "a, b and c", '{"source": "web"}')]


def test_jsonl_keeps_nested_metadata_and_coerces_int_ids():
    data = b'{"id": 12, "text": "hi", "meta": {"a": [1, 2]}, "score": 0.5}\n\n{"text": "no id"}\n'
    rows, reader = read(data, "jsonl")
    assert reader.error_count == 0
    assert rows[0][:3] == (1, "12", "hi")
    assert json.loads(rows[0][3]) == {"meta": {"a": [1, 2]}, "score": 0.5}
    assert rows[1][:2] == (3, derived_external_id("no id"))


def test_json_array_is_streamed_across_chunks_with_line_numbers():
    items = [{"id": f"x{n}", "text": "word " * 50 + str(n), "n": n} for n in range(3000)]
    data = ("[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]\n").encode()
    assert len(data) > 3 * 64 * 1024  # several chunks
    rows, reader = read(data, "json")
    assert reader.error_count == 0
    assert len(rows) == 3000
    assert rows[0][:2] == (2, "x0")
    assert rows[-1][:2] == (3001, "x2999")
    assert json.loads(rows[-1][3]) == {"n": 2999}


def test_json_array_on_one_line():
    rows, reader = read(b'[{"text": "a"},{"text": "b", "tags": ["x"]}]', "json")
    assert reader.error_count == 0
    assert [text for _, _, text, _ in rows] == ["a", "b"]


@pytest.mark.parametrize(
    ("data", "file_format", "line", "column", "fragment"),
    [
        (b"", "csv", 1, "", "empty"),
        (b"id,text\n", "csv", 1, "", "header but no rows"),
        (b"id,body\n1,x\n", "csv", 1, "text", "no 'text' column"),
        (b"id,text,id\n1,x,2\n", "csv", 1, "id", "twice"),
        (b"id,,text\n1,x,y\n", "csv", 1, "#2", "empty name"),
        (b"id,text\n1,ok\n2,a,b\n", "csv", 3, "", "expected 2 fields"),
        (b"id,text,c\n1,ok,x\n2,a\n", "csv", 3, "", "expected 3 fields"),
        (b"id,text\n1,   \n", "csv", 2, "text", "empty"),
        (b"id,text\n,hello\n", "csv", 2, "id", "id is empty"),
        (b"id,text\n1,ok\n2,caf\xe9\n", "csv", 3, "", "not valid UTF-8"),
        (b"id,text\n1,o\x00k\n", "csv", 2, "", "NUL"),
        (b'id,text\n1,ok\n2,"never closed\n3,x\n', "csv", 3, "", "quoting"),
        (b'{"text": "ok"}\n{"text": "a",}\n', "jsonl", 2, "", "invalid JSON"),
        (b'{"text": "ok"}\n["text"]\n', "jsonl", 2, "", "not an object"),
        (b'{"text": 5}\n', "jsonl", 1, "text", "must be a string"),
        (b'{"id": [1], "text": "x"}\n', "jsonl", 1, "id", "string or an integer"),
        (b'{"id": true, "text": "x"}\n', "jsonl", 1, "id", "string or an integer"),
        (b'{"id": 1}\n', "jsonl", 1, "text", "no 'text' key"),
        (b'{"text": "ok"}', "json", 1, "", "must be an array"),
        (b'[\n{"text": "ok"},\n"just a string"\n]', "json", 3, "", "not an object"),
        (b'[\n{"text": "ok"},\n{"text": }\n]', "json", 3, "", "invalid JSON"),
        (b"[]", "json", 1, "", "empty"),
        (b'[{"text": "ok"}', "json", 1, "", "before the array is closed"),
        (b"\xff\xfet\x00e\x00x\x00t\x00\n\x00", "csv", 1, "", "NUL"),
    ],
)
def test_malformed_input_names_line_column_and_problem(data, file_format, line, column, fragment):
    rows, reader = read(data, file_format)
    assert reader.error_count >= 1
    error = reader.errors[0]
    assert (error.line, error.column) == (line, column), reader.errors
    assert fragment in error.message.replace("is not an object", "not an object").replace(
        "expected a JSON object", "not an object"
    ), error.message


def test_size_limits():
    data = (
        b"id,text,extra\n" + b"x" * 11 + b",short,m\n" + b"2," + b"t" * 31 + b",m\n3,ok," + b"m" * 40 + b"\n"
    )
    rows, reader = read(data, max_id_chars=10, max_text_chars=30, max_metadata_chars=30)
    assert rows == []
    assert [(e.line, e.column) for e in reader.errors] == [(2, "id"), (3, "text"), (4, "")]
    assert "limit is 10" in reader.errors[0].message
    assert "limit 30" in reader.errors[2].message


def test_every_error_is_counted_but_only_fifty_are_kept():
    data = b"id,text\n" + b"".join(b"%d, \n" % n for n in range(120))
    _, reader = read(data)
    assert reader.error_count == 120
    assert len(reader.errors) == 50


def test_the_file_is_read_as_a_stream():
    """The reader never asks for the whole file: only lines or chunks of it."""

    class NoReadAll(io.BytesIO):
        def read(self, size=-1):
            assert size is not None, "read() of the whole file"
            assert size > 0, "read() of the whole file"
            return super().read(size)

        def readline(self, size=-1):
            assert size > 0, "readline() without a limit"
            return super().readline(size)

    data = b"id,text\n" + b"".join(b"%d,row %d\n" % (n, n) for n in range(1000))
    assert len(list(ExampleFileReader(NoReadAll(data), "csv"))) == 1000
    array = ("[" + ",".join(json.dumps({"text": f"row {n}"}) for n in range(1000)) + "]").encode()
    assert len(list(ExampleFileReader(NoReadAll(array), "json"))) == 1000


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "csv"),
        ("A.TSV", "tsv"),
        ("x.jsonl", "jsonl"),
        ("x.ndjson", "jsonl"),
        ("x.json", "json"),
        ("x.txt", None),
    ],
)
def test_format_from_name(name, expected):
    assert format_from_name(name) == expected


def test_old_mac_line_endings_work_in_csv():
    rows, reader = read(b"id,text\r1,a\r2,b\r")
    assert reader.error_count == 0
    assert [(line, text) for line, _, text, _ in rows] == [(2, "a"), (3, "b")]


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
def test_an_endless_line_is_refused_without_reading_it_whole(file_format):
    data = (
        b"text\nok\n" + b"x" * (2 * 1024 * 1024) if file_format == "csv" else b'{"text": "' + b"x" * (2 << 20)
    )
    rows, reader = read(data, file_format)
    error = only_error(reader)
    assert error.line == (3 if file_format == "csv" else 1)
    assert "longer than" in error.message


def test_bad_byte_far_into_the_file_is_reported_on_its_line():
    data = b"id,text\n" + b"".join(b"%d,row %d\n" % (n, n) for n in range(20_000)) + b"x,caf\xe9\n"
    rows, reader = read(data)
    assert len(rows) <= 20_000
    error = only_error(reader)
    assert error.line == 20_002
    assert "0xe9" in error.message


def test_json_array_with_a_bad_byte_reports_only_that():
    rows, reader = read(b'[\n{"text": "ok"},\n{"text": "caf\xe9"}\n]', "json")
    error = only_error(reader)
    assert error.line == 3
    assert "0xe9" in error.message


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
).filter(lambda t: not t.isspace())


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(_text, _text), min_size=1, max_size=20),
    file_format=st.sampled_from(["csv", "tsv"]),
)
def test_what_a_csv_writer_writes_is_read_back_exactly(rows, file_format):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="," if file_format == "csv" else "\t", lineterminator="\r\n")
    writer.writerow(["id", "text", "note"])
    writer.writerows([(str(n), text, note) for n, (text, note) in enumerate(rows)])

    parsed, reader = read(buffer.getvalue().encode(), file_format)

    assert reader.error_count == 0, reader.errors
    assert [(external_id, text, json.loads(metadata)) for _, external_id, text, metadata in parsed] == [
        (str(n), text, {"note": note}) for n, (text, note) in enumerate(rows)
    ]


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(_text, st.dictionaries(_text, _text, max_size=3)), min_size=1, max_size=20))
def test_json_lines_and_arrays_are_read_back_exactly(rows):
    items = [
        {"id": n, "text": text, **{f"m{key}": value for key, value in meta.items()}}
        for n, (text, meta) in enumerate(rows)
    ]
    expected = [
        (str(item["id"]), item["text"], {k: v for k, v in item.items() if k not in ("id", "text")})
        for item in items
    ]
    for file_format, data in (
        ("jsonl", "\n".join(json.dumps(item) for item in items)),
        ("json", json.dumps(items, indent=1, ensure_ascii=False)),
    ):
        parsed, reader = read(data.encode(), file_format)
        assert reader.error_count == 0, reader.errors
        assert [
            (external_id, text, json.loads(metadata)) for _, external_id, text, metadata in parsed
        ] == expected
