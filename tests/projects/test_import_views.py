"""The upload page and the import status page (managers only)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from projects.models import Example, ImportBatch
from tests.factories import ProjectFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def import_url(project):
    return reverse("projects:import", args=[project.slug])


def upload(name, content: bytes):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def status_url(batch):
    return reverse("projects:import_status", args=[batch.project.slug, batch.id])


def test_anonymous_is_sent_to_login(client, project, import_url):
    response = client.get(import_url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_labeler_is_refused(labeler_client, import_url):
    assert labeler_client.get(import_url).status_code == 403
    response = labeler_client.post(import_url, {"file": upload("a.csv", b"text\nx\n")})
    assert response.status_code == 403
    assert not ImportBatch.objects.exists()


def test_sme_is_refused(sme_client, import_url):
    assert sme_client.get(import_url).status_code == 403


def test_member_of_another_project_gets_404(outsider_client, import_url):
    assert outsider_client.get(import_url).status_code == 404


def test_manager_sees_the_form(manager_client, import_url):
    response = manager_client.get(import_url)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'enctype="multipart/form-data"' in content
    assert "No imports yet" in content
    assert "style=" not in content  # the CSP forbids inline styles


def test_upload_redirects_to_the_status_page_with_the_result(
    manager_client, project, import_url, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            import_url, {"file": upload("tickets.csv", b"id,text,channel\n1,one,web\n2,two,app\n")}
        )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response.url == status_url(batch)
    assert batch.project == project
    assert batch.created_by.username == "manager"

    page = manager_client.get(response.url)
    content = page.content.decode()
    assert page.status_code == 200
    assert "<html" in content
    assert "Imported 2 new examples" in content
    assert "hx-trigger" not in content  # finished: no more polling
    assert Example.objects.filter(project=project).count() == 2


def test_the_request_does_not_import(manager_client, project, import_url, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = manager_client.post(import_url, {"file": upload("t.csv", b"text\nhello\n")})
    assert response.status_code == 302
    assert len(callbacks) == 1  # the job is queued after the commit ...
    assert not Example.objects.exists()  # ... and the request itself wrote no example

    page = manager_client.get(response.url, **HTMX)
    content = page.content.decode()
    assert 'hx-trigger="every 1s"' in content
    assert f'href="{response.url}"' in content  # works without JavaScript too
    assert "Queued" in content


def test_failed_import_shows_the_error_table(
    manager_client, project, import_url, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            import_url, {"file": upload("bad.csv", b"id,text\n1,fine\n2,\n3,a,b\n")}
        )
    page = manager_client.get(response.url)
    content = page.content.decode()
    assert "2 problems found" in content
    assert "<td>3</td><td>text</td><td>the text is empty</td>" in content
    assert "<td>4</td><td>—</td><td>expected 2 fields as in the header, found 3</td>" in content
    assert not Example.objects.exists()


def test_htmx_status_request_returns_only_the_partial(
    manager_client, project, django_capture_on_commit_callbacks
):
    batch = ImportBatch.objects.create(
        project=project,
        source_name="big.csv",
        file_format="csv",
        status="running",
        bytes_total=1000,
        bytes_read=420,
    )
    response = manager_client.get(status_url(batch), **HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    assert 'id="import-status"' in content
    assert 'value="42"' in content  # the progress bar
    assert 'hx-trigger="every 1s"' in content

    full = manager_client.get(status_url(batch)).content.decode()
    assert "<html" in full
    assert 'id="import-status"' in full


def test_htmx_upload_renders_the_status_partial(
    manager_client, import_url, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = manager_client.post(import_url, {"file": upload("t.jsonl", b'{"text": "a"}\n')}, **HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    assert 'id="import-status"' in content


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "This field is required"),
        ({"file": upload("data.xlsx", b"text\nx\n")}, "Name the file .csv"),
        ({"file": upload("empty.csv", b"")}, "The submitted file is empty"),
    ],
)
def test_bad_uploads_get_a_form_error(manager_client, import_url, data, message):
    response = manager_client.post(import_url, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_too_large_upload_is_refused_while_it_is_read(manager_client, import_url, settings):
    settings.CONCORD_IMPORT_MAX_FILE_BYTES = 10
    response = manager_client.post(import_url, {"file": upload("a.csv", b"text\n" + b"x" * 20 + b"\n")})
    assert response.status_code == 413
    assert "The file is larger than the import limit of 10\xa0bytes." in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_explicit_format_allows_any_extension(manager_client, import_url, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            import_url, {"file": upload("export.txt", b"text\nhello\n"), "file_format": "csv"}
        )
    assert response.status_code == 302
    assert ImportBatch.objects.get().rows_created == 1


def test_batch_of_another_project_is_not_found(manager_client, project):
    other = ProjectFactory(slug="elsewhere")
    batch = ImportBatch.objects.create(project=other, source_name="x.csv", file_format="csv")
    response = manager_client.get(reverse("projects:import_status", args=[project.slug, batch.id]))
    assert response.status_code == 404


def test_recent_imports_are_listed(manager_client, project, import_url):
    ImportBatch.objects.create(project=project, source_name="older.csv", file_format="csv", status="failed")
    content = manager_client.get(import_url).content.decode()
    assert "older.csv" in content
    assert "Failed" in content


def test_status_says_saving_once_the_whole_file_is_read(manager_client, project):
    batch = ImportBatch.objects.create(
        project=project,
        source_name="b.csv",
        file_format="csv",
        status="running",
        bytes_total=10,
        bytes_read=10,
    )
    content = manager_client.get(status_url(batch), **HTMX).content.decode()
    assert "now checking and saving" in content
    assert 'value="99"' in content
    assert 'hx-trigger="every 1s"' in content


def test_recent_imports_keep_polling_until_every_job_ends(
    manager_client, project, import_url, django_capture_on_commit_callbacks
):
    """The defect: the table was rendered once, so an import finished on screen while its row kept
    saying "Queued". The table now refreshes itself while a job in it is unfinished."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = manager_client.post(import_url, {"file": upload("t.csv", b"text\nhello\n")})
    batch = ImportBatch.objects.get()
    page = manager_client.get(response.url).content.decode()
    recent_url = reverse("projects:import_recent", args=[project.slug])
    assert f'hx-get="{recent_url}"' in page
    assert f'<tr id="import-{batch.id}">' in page
    assert '<td class="import-state">Queued</td>' in page

    callbacks[0]()  # the worker imports the file

    table = manager_client.get(recent_url, **HTMX).content.decode()
    assert "<html" not in table
    assert 'id="recent-imports"' in table
    assert '<td class="import-state">Succeeded</td>' in table
    assert "hx-trigger" not in table  # every job has ended: no more polling
    assert "<html" in manager_client.get(recent_url).content.decode()  # works without JavaScript too


def test_a_running_job_shows_its_percentage_in_the_table(manager_client, project, import_url):
    ImportBatch.objects.create(
        project=project,
        source_name="big.csv",
        file_format="csv",
        status="running",
        bytes_total=100,
        bytes_read=40,
    )
    content = manager_client.get(import_url).content.decode()
    assert '<td class="import-state">Running (40%)</td>' in content
    assert 'hx-trigger="every 2s"' in content


def test_a_failed_import_never_shows_a_percentage(manager_client, project):
    batch = ImportBatch.objects.create(
        project=project,
        source_name="deep.json",
        file_format="json",
        status="failed",
        bytes_total=1000,
        bytes_read=999,
        errors=[{"line": 1, "column": "", "message": "the JSON is nested too deeply (more than 64 levels)"}],
        error_count=1,
    )
    assert batch.percent is None
    content = manager_client.get(status_url(batch)).content.decode()
    assert "99%" not in content
    assert 'value="99"' not in content
    assert "<progress" not in content
    assert "nested too deeply" in content
    assert "hx-trigger" not in content


def test_annotations_are_uploaded_from_the_same_page(
    manager_client, project, import_url, django_capture_on_commit_callbacks
):
    content = b"example_id,rater,label,text\nt1,Mary O'Neil,bug,Crash\nt1,bob,bug,\nt1,carol,bug,\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            import_url, {"kind": "annotations", "file": upload("votes.csv", content)}
        )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert (batch.kind, batch.status) == ("annotations", "succeeded")
    page = manager_client.get(response.url).content.decode()
    assert "Imported 3 annotations" in page
    assert "1 unanimous and 0 majority labels accepted" in page
    assert "Rater “Mary O&#x27;Neil” is the account mary-oneil-" in page
    assert Example.objects.get().annotation_count == 3


def test_the_page_offers_both_kinds_and_checks_the_format_against_the_kind(manager_client, import_url):
    page = manager_client.get(import_url).content.decode()
    assert 'value="examples"' in page
    assert 'value="annotations"' in page
    assert 'name="from_name"' in page
    response = manager_client.post(
        import_url, {"kind": "annotations", "file": upload("a.json", b"[]"), "file_format": "json"}
    )
    assert response.status_code == 400
    assert "JSON is not a format for annotations" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_a_failed_annotation_import_lists_its_problems(
    manager_client, project, import_url, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            import_url,
            {"kind": "annotations", "file": upload("v.csv", b"example_id,rater,label\nz,ann,bug\n")},
        )
    page = manager_client.get(response.url).content.decode()
    assert "1 problem found, and nothing was written" in page
    assert "unknown example &#x27;z&#x27; and no text to create it" in page
