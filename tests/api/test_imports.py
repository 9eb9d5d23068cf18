"""POST examples/import/ queues an import (202 + a status URL); the status URL reports progress,
counts and the errors by line and column."""

from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Example, ImportBatch

from .conftest import token_client

IMPORT_URL = "/api/v1/projects/support/examples/import/"


def _file(name: str, content: bytes):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def test_an_upload_is_queued_and_its_status_url_reports_the_result(
    project, manager, django_capture_on_commit_callbacks
):
    api = token_client(manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(IMPORT_URL, {"file": _file("tickets.csv", b"id,text\nt1,hello\nt2,world\n")})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["url"] == f"http://testserver/api/v1/projects/support/imports/{body['id']}/"
    assert response["Location"] == body["url"]
    assert not Example.objects.exists()  # the request only queues the job
    assert len(callbacks) == 1
    callbacks[0]()  # the worker runs the job (eager in tests)
    status = api.get(body["url"]).json()
    assert status["status"] == "succeeded"
    assert status["percent"] == 100
    assert (status["rows_read"], status["rows_created"], status["errors"]) == (2, 2, [])
    assert ImportBatch.objects.get().created_by == manager


def test_row_errors_come_back_with_line_and_column(project, manager, django_capture_on_commit_callbacks):
    api = token_client(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(IMPORT_URL, {"file": _file("bad.csv", b"id,text\n1,fine\n2,\n")})
    status = api.get(response.json()["url"]).json()
    assert status["status"] == "failed"
    assert status["error_count"] == 1
    assert status["errors"] == [{"line": 3, "column": "text", "message": "the text is empty"}]
    assert not Example.objects.exists()


def test_the_format_field_overrides_the_file_name(project, manager, django_capture_on_commit_callbacks):
    api = token_client(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            IMPORT_URL, {"file": _file("data.txt", b'{"id": "j1", "text": "hi"}\n'), "format": "jsonl"}
        )
    assert response.status_code == 202
    assert api.get(response.json()["url"]).json()["status"] == "succeeded"


def test_bad_uploads_are_400_with_the_reason(project, manager):
    api = token_client(manager)
    response = api.post(IMPORT_URL, {"file": _file("data.txt", b"x")})
    assert response.status_code == 400
    assert "Cannot tell the format" in response.json()["file"][0]
    response = api.post(IMPORT_URL, {"file": _file("a.csv", b"id,text\n"), "format": "xml"})
    assert response.status_code == 400
    assert "format" in response.json()
    assert api.post(IMPORT_URL, {}).status_code == 400
    assert not ImportBatch.objects.exists()
