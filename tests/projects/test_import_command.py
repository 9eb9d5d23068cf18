"""`manage.py import_examples`: the same import, run in-process from the command line."""

import io

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from projects.models import Example, ImportBatch, Project
from tests.factories import ExampleFactory

from .test_import_service import MALFORMED


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_examples", *[str(arg) for arg in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_and_prints_a_summary(project, tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text("id,text,channel\n1,one,web\n2,two,app\n", encoding="utf-8")

    out, _ = run("support", path)

    assert "2 examples created, 0 skipped as already present" in out
    assert Example.objects.get(project=project, external_id="2").metadata == {"channel": "app"}
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.stored_file) == (ImportBatch.Status.SUCCEEDED, "")


def test_second_run_reports_skipped_rows(project, tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text('{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n', encoding="utf-8")
    run("support", path)

    out, _ = run("support", path)

    assert "0 examples created, 2 skipped as already present" in out


def test_create_makes_the_project(db, tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("text\nhello\n", encoding="utf-8")

    out, _ = run("new-tickets", path, "--create", "--format", "csv")

    project = Project.objects.get(slug="new-tickets")
    assert project.name == "New tickets"
    assert project.examples.count() == 1
    assert "1 examples created" in out


def test_unknown_project_without_create_fails(db, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(CommandError, match="--create"):
        run("nope", path)
    assert not Project.objects.exists()


def test_missing_file_and_unknown_extension_fail(project, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run("support", tmp_path / "absent.csv")
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"text\nx\n")
    with pytest.raises(CommandError, match="Cannot tell the format"):
        run("support", path)


@pytest.mark.parametrize(
    ("name", "content", "line", "column", "words"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_file_prints_errors_and_fails(project, tmp_path, name, content, line, column, words):
    ExampleFactory(project=project, external_id="existing")
    path = tmp_path / name
    path.write_bytes(content)

    err = io.StringIO()
    with pytest.raises(CommandError, match="no examples were imported"):
        call_command("import_examples", "support", str(path), stdout=io.StringIO(), stderr=err)
    first = err.getvalue().splitlines()[0]
    where = f"line {line}, column {column}: " if column else f"line {line}: "
    assert first.startswith(where), first
    assert words in first
    assert Example.objects.filter(project=project).count() == 1


def test_exit_status_is_non_zero_on_errors(project, tmp_path, capsys, monkeypatch):
    # run_from_argv closes all connections at the end; keep the test's transaction open.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,text\n1,ok\n2,\n")

    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["manage.py", "import_examples", "support", str(path)])

    assert exit_info.value.code != 0
    assert "line 3, column text: the text is empty" in capsys.readouterr().err
    assert not Example.objects.exists()
