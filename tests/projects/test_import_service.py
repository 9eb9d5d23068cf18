"""Importing examples through the services and the background job (all or nothing)."""

import csv
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from projects.importing import derived_external_id
from projects.models import Example, ImportBatch
from projects.services.imports import import_batch_create, import_batch_run
from tests.factories import ExampleFactory

LONG = "x" * 20_001
MALFORMED = [
    # (file name, content, line, column, words in the message)
    ("empty.csv", b"", 1, "", "empty"),
    ("header_only.csv", b"id,text,channel\n", 1, "", "header but no rows"),
    ("no_text_column.csv", b"id,body\n1,hello\n", 1, "text", "no 'text' column"),
    ("duplicate_header.csv", b"id,text,text\n1,a,b\n", 1, "text", "twice"),
    ("empty_header_name.csv", b"id,text,\n1,a,b\n", 1, "#3", "empty name"),
    ("ragged_more.csv", b"id,text\n1,fine\n2,one,too many\n", 3, "", "expected 2 fields"),
    ("ragged_fewer.tsv", b"id\ttext\tchannel\n1\tfine\tweb\n2\tmissing\n", 3, "", "expected 3 fields"),
    ("empty_text.csv", b"id,text\n1,fine\n2,   \n", 3, "text", "the text is empty"),
    ("duplicate_ids.csv", b"id,text\na,one\nb,two\na,three\n", 4, "id", "also used on line 2"),
    (
        "duplicate_texts.csv",
        b"text,channel\nhello,web\nother,web\nhello,mail\n",
        4,
        "text",
        "same text as line 2",
    ),
    ("latin1.csv", "id,text\n1,fine\n2,café\n".encode("latin-1"), 3, "", "not valid UTF-8"),
    ("nul_byte.csv", b"id,text\n1,fi\x00ne\n", 2, "", "NUL"),
    ("long_text.csv", b"id,text\n1," + LONG.encode() + b"\n", 2, "text", "limit is 20000"),
    ("long_id.csv", b"id,text\n" + b"i" * 256 + b",hello\n", 2, "id", "limit is 255"),
    ("big_metadata.jsonl", json.dumps({"text": "t", "note": "n" * 10_000}).encode(), 1, "", "limit 10000"),
    ("bad_json.jsonl", b'{"id": 1, "text": "fine"}\n{"id": 2, "text": "oops"\n', 2, "", "invalid JSON"),
    ("not_an_object.jsonl", b'{"id": 1, "text": "fine"}\n[2, "a list"]\n', 2, "", "found array"),
    ("id_is_a_list.jsonl", b'{"id": [1], "text": "fine"}\n', 1, "id", "string or an integer"),
    ("text_is_null.jsonl", b'{"id": 1, "text": null}\n', 1, "text", "must be a string"),
    ("nan.jsonl", b'{"text": "ok", "score": NaN}\n', 1, "", "NaN"),
    ("lone_surrogate.jsonl", b'{"text": "ok"}\n{"text": "bad \\ud800 half"}\n', 2, "text", "surrogate"),
    ("escaped_nul.jsonl", b'{"text": "a\\u0000b"}\n', 1, "text", "NUL"),
    ("not_an_array.json", b'{"id": 1, "text": "fine"}', 1, "", "must be an array"),
    ("item_not_object.json", b'[\n  {"id": 1, "text": "fine"},\n  "text"\n]', 3, "", "found string"),
    ("duplicate_ids.json", b'[\n  {"id": 1, "text": "a"},\n  {"id": "1", "text": "b"}\n]', 3, "id", "line 2"),
]


def write_csv(path, rows, header=("id", "text", "channel", "language")):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_import(project, path, django_capture_on_commit_callbacks, **kwargs):
    """Upload through the service and let the queued job run (Celery is eager in tests)."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        batch = import_batch_create(
            project=project, user=None, uploaded_file_or_path=path, source_name=path.name, **kwargs
        )
    assert len(callbacks) == 1
    batch.refresh_from_db()
    return batch


@pytest.mark.parametrize(
    ("name", "content", "line", "column", "words"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_file_is_rejected_and_writes_nothing(
    project, tmp_path, django_capture_on_commit_callbacks, private_storage, name, content, line, column, words
):
    ExampleFactory(project=project, external_id="existing", text="Already here")
    path = tmp_path / name
    path.write_bytes(content)

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.FAILED
    assert batch.error_count >= 1
    first = batch.errors[0]
    assert (first["line"], first["column"]) == (line, column), batch.errors
    assert words in first["message"]
    assert Example.objects.filter(project=project).count() == 1  # only the one made above
    assert batch.rows_created == 0
    assert batch.stored_file == ""
    assert not any(private_storage.rglob("*.*"))  # the upload is deleted when the job ends


def test_ten_thousand_rows_through_the_background_job(project, tmp_path, django_capture_on_commit_callbacks):
    rows = [
        (f"t-{n}", f"Customer message {n}: the app crashes", ("email", "chat")[n % 2], "en")
        for n in range(10_000)
    ]
    path = write_csv(tmp_path / "tickets.csv", rows)

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    assert (batch.rows_created, batch.rows_skipped, batch.rows_read) == (10_000, 0, 10_000)
    assert batch.percent == 100
    assert batch.bytes_read == batch.bytes_total == path.stat().st_size
    assert batch.started_at
    assert batch.finished_at
    assert Example.objects.filter(project=project).count() == 10_000
    example = Example.objects.get(project=project, external_id="t-7")
    assert example.text == "Customer message 7: the app crashes"
    assert example.metadata == {"channel": "chat", "language": "en"}
    assert example.import_batch == batch
    assert example.annotation_count == 0
    assert example.data == {}


def test_one_invalid_row_among_many_writes_nothing(project, tmp_path, django_capture_on_commit_callbacks):
    rows = [(f"t-{n}", f"message {n}", "email", "en") for n in range(3000)]
    rows[2500] = ("t-2500", " ", "email", "en")
    path = write_csv(tmp_path / "almost.csv", rows)

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors == [{"line": 2502, "column": "text", "message": "the text is empty"}]
    assert not Example.objects.filter(project=project).exists()


def test_errors_are_all_counted_and_the_first_fifty_kept(
    project, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "many.csv"
    path.write_text("id,text\n" + "".join(f"{n},\n" for n in range(80)) + "a,x\na,y\n")

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.error_count == 81  # 80 empty texts and one duplicate id
    assert len(batch.errors) == 50
    assert [error["line"] for error in batch.errors] == list(range(2, 52))


def test_reimport_skips_existing_ids_and_never_changes_them(
    project, tmp_path, django_capture_on_commit_callbacks
):
    first = write_csv(tmp_path / "first.csv", [("1", "one", "a", "en"), ("2", "two", "a", "en")])
    second = write_csv(
        tmp_path / "second.csv",
        [("2", "two CHANGED", "b", "de"), ("3", "three", "b", "de"), ("1", "one", "a", "en")],
    )
    run_import(project, first, django_capture_on_commit_callbacks)

    batch = run_import(project, second, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert (batch.rows_created, batch.rows_skipped) == (1, 2)
    two = Example.objects.get(project=project, external_id="2")
    assert (two.text, two.metadata) == ("two", {"channel": "a", "language": "en"})
    assert Example.objects.filter(project=project).count() == 3


def test_reimport_of_a_file_without_ids_adds_nothing(project, tmp_path, django_capture_on_commit_callbacks):
    path = write_csv(tmp_path / "texts.csv", [("hello",), ("world",)], header=("text",))
    run_import(project, path, django_capture_on_commit_callbacks)

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert (batch.status, batch.rows_created, batch.rows_skipped) == ("succeeded", 0, 2)
    assert set(Example.objects.values_list("external_id", flat=True)) == {
        derived_external_id("hello"),
        derived_external_id("world"),
    }


def test_duplicate_in_the_file_is_an_error_even_when_the_id_exists(
    project, tmp_path, django_capture_on_commit_callbacks
):
    ExampleFactory(project=project, external_id="a", text="old")
    path = write_csv(tmp_path / "dup.csv", [("a", "x"), ("b", "y"), ("a", "z")], header=("id", "text"))

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors[0]["line"] == 4
    assert Example.objects.filter(project=project).count() == 1


def test_same_ids_in_another_project_do_not_matter(
    project, other_project, tmp_path, django_capture_on_commit_callbacks
):
    ExampleFactory(project=other_project, external_id="1", text="elsewhere")
    path = write_csv(tmp_path / "a.csv", [("1", "here")], header=("id", "text"))

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.rows_created == 1
    assert Example.objects.get(project=project, external_id="1").text == "here"


def test_bom_and_formula_text_are_handled(project, tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffid,text\n1,=SUM(A1:A9)\n2,+33 1 23\n3,-minus\n4,@mention\n5,\"=cmd|' /C calc'!A0\"\n".encode()
    )

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    texts = dict(Example.objects.filter(project=project).values_list("external_id", "text"))
    assert texts == {
        "1": "=SUM(A1:A9)",
        "2": "+33 1 23",
        "3": "-minus",
        "4": "@mention",
        "5": "=cmd|' /C calc'!A0",
    }


def test_tsv(project, tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "data.tsv"
    path.write_text("id\ttext\tsource\n1\tcomma, inside\tweb\n2\tsecond\tapp\n", encoding="utf-8")

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.rows_created == 2
    example = Example.objects.get(project=project, external_id="1")
    assert (example.text, example.metadata) == ("comma, inside", {"source": "web"})


def test_jsonl_keeps_nested_metadata(project, tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "data.jsonl"
    lines = [
        {"id": 1, "text": "first", "meta": {"tags": ["a", "b"], "score": 0.5}},
        {"text": "no id", "n": None},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.rows_created == 2
    assert Example.objects.get(project=project, external_id="1").metadata == {
        "meta": {"tags": ["a", "b"], "score": 0.5}
    }
    assert Example.objects.get(project=project, external_id=derived_external_id("no id")).metadata == {
        "n": None
    }


def test_json_array(project, tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "data.json"
    items = [{"id": f"j{n}", "text": f"item {n}", "lang": "en"} for n in range(2000)]
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    assert batch.rows_created == 2000
    assert Example.objects.get(project=project, external_id="j1999").metadata == {"lang": "en"}


def test_explicit_format_overrides_the_extension(project, tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "export.txt"
    path.write_text('{"text": "a"}\n', encoding="utf-8")

    batch = run_import(project, path, django_capture_on_commit_callbacks, file_format="jsonl")

    assert (batch.file_format, batch.rows_created) == ("jsonl", 1)


def test_unknown_extension_and_oversized_files_are_refused_before_storing(project, tmp_path, settings):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"id,text\n1,a\n")
    with pytest.raises(ValidationError, match="Cannot tell the format"):
        import_batch_create(project=project, user=None, uploaded_file_or_path=path, source_name=path.name)
    settings.CONCORD_IMPORT_MAX_FILE_BYTES = 5
    with pytest.raises(ValidationError, match="limit is 5 bytes"):
        import_batch_create(project=project, user=None, uploaded_file_or_path=path, source_name="data.csv")
    assert not ImportBatch.objects.exists()


def test_create_stores_the_file_privately_and_queues_the_job(
    project, tmp_path, django_capture_on_commit_callbacks, private_storage
):
    path = write_csv(tmp_path / "a.csv", [("1", "a", "x", "y")])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch = import_batch_create(
            project=project, user=None, uploaded_file_or_path=path, source_name="a.csv"
        )
    assert len(callbacks) == 1
    assert batch.status == ImportBatch.Status.QUEUED
    assert batch.bytes_total == path.stat().st_size
    assert default_storage.exists(batch.stored_file)
    assert (private_storage / batch.stored_file).is_file()
    assert not Example.objects.exists()  # the request itself imports nothing


def test_a_finished_batch_is_not_run_again_but_a_stale_running_one_is(
    project, tmp_path, django_capture_on_commit_callbacks
):
    path = write_csv(tmp_path / "a.csv", [("1", "a", "x", "y")])
    with django_capture_on_commit_callbacks(execute=False):
        batch = import_batch_create(
            project=project, user=None, uploaded_file_or_path=path, source_name="a.csv"
        )
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.RUNNING)  # a worker died

    assert import_batch_run(batch_id=batch.id).status == ImportBatch.Status.SUCCEEDED
    again = import_batch_run(batch_id=batch.id)

    assert (again.status, again.rows_created) == (ImportBatch.Status.SUCCEEDED, 1)
    assert Example.objects.filter(project=project).count() == 1


def test_missing_stored_file_fails_cleanly(project, tmp_path, django_capture_on_commit_callbacks):
    path = write_csv(tmp_path / "a.csv", [("1", "a", "x", "y")])
    with django_capture_on_commit_callbacks(execute=False):
        batch = import_batch_create(
            project=project, user=None, uploaded_file_or_path=path, source_name="a.csv"
        )
    default_storage.delete(batch.stored_file)

    batch = import_batch_run(batch_id=batch.id)

    assert batch.status == ImportBatch.Status.FAILED
    assert "no longer available" in batch.errors[0]["message"]


@pytest.mark.django_db(transaction=True)
def test_progress_is_committed_while_staging_outside_any_transaction(tmp_path, monkeypatch):
    """As in the worker (autocommit): progress rows are written between chunks, then the result."""
    from projects.services import imports
    from tests.factories import ProjectFactory

    monkeypatch.setattr(imports, "PROGRESS_EVERY_SECONDS", 0)
    monkeypatch.setattr(imports, "SQLITE_CHUNK_ROWS", 500)
    monkeypatch.setattr(imports, "COPY_CHUNK_ROWS", 500)
    seen = []
    original = imports._Progress.__call__

    def spy(self, reader, rows, force=False):
        original(self, reader, rows, force)
        seen.append(ImportBatch.objects.values_list("rows_read", flat=True).get(pk=self.batch_id))

    monkeypatch.setattr(imports._Progress, "__call__", spy)
    project = ProjectFactory(slug="progress")
    path = write_csv(tmp_path / "p.csv", [(str(n), f"text {n}", "a", "b") for n in range(3000)])
    batch = import_batch_create(
        project=project, user=None, uploaded_file_or_path=path, source_name="p.csv", run_in_background=False
    )

    batch = import_batch_run(batch_id=batch.id)

    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert batch.rows_created == 3000
    assert len(seen) >= 3
    assert seen == sorted(seen)
    assert 0 < seen[0] < 3000


def test_special_characters_survive_staging(project, tmp_path, django_capture_on_commit_callbacks):
    texts = [
        "tab\there",
        "back\\slash \\N \\.",
        "cr\r\nlf\nend",
        "\\.",
        "emoji 🙂 and ünïcödé",
        '"quoted", comma',
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text(
        "\n".join(json.dumps({"id": str(n), "text": t, "meta": {"k\\ey": t}}) for n, t in enumerate(texts))
        + "\n",
        encoding="utf-8",
    )

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    for n, text in enumerate(texts):
        example = Example.objects.get(project=project, external_id=str(n))
        assert example.text == text
        assert example.metadata == {"meta": {"k\\ey": text}}


def test_an_unexpected_error_fails_the_batch_and_writes_nothing(
    project, tmp_path, django_capture_on_commit_callbacks, private_storage, monkeypatch, caplog
):
    from projects.services import imports

    def broken(batch):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(imports, "_insert_examples", broken)
    path = write_csv(tmp_path / "a.csv", [("1", "a", "x", "y")])

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.FAILED
    assert "unexpected error" in batch.errors[0]["message"]
    assert "disk on fire" not in batch.errors[0]["message"]  # details go to the log, not the page
    assert "disk on fire" in caplog.text
    assert not Example.objects.exists()
    assert not any(private_storage.rglob("*.*"))


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("deep.json", '[\n  {"id": 1, "text": "fine"},\n  ' + DEEP + "\n]", 3),
        (
            "deep_object.json",
            '[\n  {"id": 1, "text": "x", "meta": ' + '{"a": ' * 5000 + "1" + "}" * 5001 + "\n]",
            2,
        ),
        ("deep.jsonl", '{"id": 1, "text": "fine"}\n' + DEEP + "\n", 2),
        ("deep_metadata.jsonl", '{"id": 1, "text": "x", "meta": ' + "[" * 70 + "]" * 70 + "}\n", 1),
    ],
)
def test_json_nested_too_deeply_names_the_problem_and_line(
    project, tmp_path, django_capture_on_commit_callbacks, name, content, line
):
    """The defect: a file nested 5,000 deep failed with "unexpected error; please try again"."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors[0] == {
        "line": line,
        "column": "",
        "message": "the JSON is nested too deeply (more than 64 levels)",
    }
    assert batch.percent is None  # never a misleading 99%
    assert not Example.objects.filter(project=project).exists()


def test_metadata_nested_within_the_limit_is_kept(project, tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "ok.jsonl"
    nested = json.loads("[" * 63 + "]" * 63)
    path.write_text(json.dumps({"id": 1, "text": "x", "m": nested}) + "\n", encoding="utf-8")

    batch = run_import(project, path, django_capture_on_commit_callbacks)

    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    assert Example.objects.get(project=project).metadata == {"m": nested}
