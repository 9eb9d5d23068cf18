"""POST examples/import/ and annotations/import/ queue an import (202 + a status URL); the status
URL reports progress, counts, the summary and the errors by line and column."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Annotation, ConsensusLabel
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


# -- annotations --------------------------------------------------------------------------------

ANNOTATIONS_URL = "/api/v1/projects/support/annotations/import/"
ANNOTATIONS = b"""example_id,rater,label,text
t1,Mary O'Neil,bug,The app crashes
t1,j. doe,bug,
t1,li,bug,
t2,Mary O'Neil,billing,Charged twice
t2,j. doe,billing,
t2,li,feature,
"""


def test_annotations_upload_is_queued_then_imported_and_decided(
    project, manager, django_capture_on_commit_callbacks
):
    api = token_client(manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(ANNOTATIONS_URL, {"file": _file("votes.csv", ANNOTATIONS)})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["url"] == f"http://testserver/api/v1/projects/support/imports/{body['id']}/"
    assert response["Location"] == body["url"]
    assert len(callbacks) == 1
    callbacks[0]()  # the worker runs the job

    status = api.get(body["url"]).json()
    assert (status["kind"], status["status"], status["percent"]) == ("annotations", "succeeded", 100)
    assert (status["rows_created"], status["rows_skipped"], status["errors"]) == (6, 0, [])
    summary = status["summary"]
    assert (summary["examples_created"], summary["raters_created"]) == (2, 3)
    assert summary["decisions"]["unanimous"] == 1
    assert summary["decisions"]["queued"] == 1  # a 2-of-3 majority waits for review by default
    assert ConsensusLabel.objects.get().example.external_id == "t1"


def test_annotation_errors_come_back_with_line_and_field_and_nothing_is_written(
    project, manager, django_capture_on_commit_callbacks
):
    api = token_client(manager)
    content = b"example_id,rater,label,text\nt1,ann,bug,Text\nt1,ben,refund,\nt2,ann,bug,\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(ANNOTATIONS_URL, {"file": _file("votes.csv", content)})
    status = api.get(response.json()["url"]).json()
    assert status["status"] == "failed"
    assert status["percent"] is None  # a failed import shows no progress
    assert status["error_count"] == 2
    assert [(e["line"], e["column"]) for e in status["errors"]] == [(3, "label"), (4, "example_id")]
    assert "unknown label 'refund'" in status["errors"][0]["message"]
    assert "unknown example 't2' and no text" in status["errors"][1]["message"]
    assert not Annotation.objects.exists()
    assert not Example.objects.exists()


def test_label_studio_upload_with_from_name(project, manager, django_capture_on_commit_callbacks):
    tasks = [
        {
            "id": 9,
            "data": {"text": "Crashes when I pay"},
            "annotations": [
                {"completed_by": n, "result": [
                    {"type": "choices", "from_name": "mood", "value": {"choices": ["angry"]}},
                    {"type": "choices", "from_name": "topic", "value": {"choices": ["bug"]}},
                ]}
                for n in (1, 2, 3)
            ],
        }
    ]  # fmt: skip
    api = token_client(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            ANNOTATIONS_URL, {"file": _file("export.json", json.dumps(tasks).encode()), "from_name": "topic"}
        )
    status = api.get(response.json()["url"]).json()
    assert status["status"] == "succeeded", status["errors"]
    assert status["rows_created"] == 3
    assert Example.objects.get().external_id == "9"

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(ANNOTATIONS_URL, {"file": _file("export.json", json.dumps(tasks).encode())})
    status = api.get(response.json()["url"]).json()
    assert status["status"] == "failed"
    assert status["errors"][0]["column"] == "from_name"
    assert "several choices controls ('mood', 'topic')" in status["errors"][0]["message"]


def test_create_is_refused_over_the_api(project, manager):
    api = token_client(manager)
    response = api.post(ANNOTATIONS_URL, {"file": _file("votes.csv", ANNOTATIONS), "create": "true"})
    assert response.status_code == 400
    assert "command line" in response.json()["create"][0]
    assert not ImportBatch.objects.exists()


def test_bad_annotation_uploads_are_400_with_the_reason(project, manager):
    api = token_client(manager)
    response = api.post(ANNOTATIONS_URL, {"file": _file("votes.xlsx", b"x")})
    assert response.status_code == 400
    assert "Cannot tell the format" in response.json()["file"][0]
    response = api.post(ANNOTATIONS_URL, {"file": _file("votes.csv", b"x"), "format": "json"})
    assert response.status_code == 400
    assert "format" in response.json()
    assert api.post(ANNOTATIONS_URL, {}).status_code == 400
    assert not ImportBatch.objects.exists()


def test_annotation_import_roles(project, manager, sme, labeler, outsider):
    for user, expected in ((labeler, 403), (sme, 403), (outsider, 404)):
        response = token_client(user).post(ANNOTATIONS_URL, {"file": _file("votes.csv", ANNOTATIONS)})
        assert response.status_code == expected, user
    assert not ImportBatch.objects.exists()
    batch = ImportBatch.objects.create(
        project=project, kind=ImportBatch.Kind.ANNOTATIONS, source_name="a.csv", file_format="csv"
    )
    url = f"/api/v1/projects/support/imports/{batch.pk}/"
    assert token_client(manager).get(url).status_code == 200
    assert token_client(labeler).get(url).status_code == 403
    assert token_client(outsider).get(url).status_code == 404


def test_the_re_deciding_job_is_not_an_import(project, manager):
    job = ImportBatch.objects.create(project=project, kind=ImportBatch.Kind.DECISIONS, source_name="rules")
    assert token_client(manager).get(f"/api/v1/projects/support/imports/{job.pk}/").status_code == 404
