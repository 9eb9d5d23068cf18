"""Request bodies are limited while they are read: a Content-Length over the limit is refused before
the body is read, an upload sent chunked (no Content-Length) is aborted once it passes the limit,
and an anonymous request never gets a file written to disk."""

import io

import pytest
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLResolver, get_resolver
from rest_framework.parsers import MultiPartParser
from rest_framework.views import APIView

from core.services import api_token_create
from projects.models import ImportBatch

API_IMPORT = "/api/v1/projects/support/examples/import/"
PAGE_IMPORT = "/projects/support/import/"
LIMIT = 100_000
CHUNK = 64 * 1024  # Django reads multipart bodies in chunks of this size


class CountingBody:
    """A request body that records how many of its bytes the server read."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)
        self.size = len(data)
        self.read_bytes = 0

    def _count(self, data: bytes) -> bytes:
        self.read_bytes += len(data)
        return data

    def read(self, size=-1):
        return self._count(self._data.read(-1 if size is None else size))

    def readline(self, size=-1):
        return self._count(self._data.readline(-1 if size is None else size))


def multipart(file_bytes: int, name: str = "tickets.csv") -> bytes:
    content = b"text\n" + b"A customer message\n" * (file_bytes // 19 + 1)
    upload = io.BytesIO(content[:file_bytes])
    upload.name = name
    return encode_multipart(BOUNDARY, {"file": upload})


def post(client: Client, url: str, body: CountingBody, *, chunked: bool = False, **extra):
    if chunked:  # as gunicorn passes a chunked body: no CONTENT_LENGTH, the input ends by itself
        extra.update(
            {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
        )
    else:
        extra.setdefault("CONTENT_LENGTH", str(body.size))
    extra.setdefault("CONTENT_TYPE", MULTIPART_CONTENT)
    return client.generic("POST", url, b"", **{"wsgi.input": body, **extra})


@pytest.fixture
def limits(settings, tmp_path):
    settings.CONCORD_IMPORT_MAX_FILE_BYTES = LIMIT
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path},
        },
    }
    return tmp_path / "uploads"


@pytest.fixture
def manager_api(manager):
    _token, key = api_token_create(user=manager, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def test_an_import_over_the_limit_is_refused_on_its_content_length_before_it_is_read(manager_api, limits):
    body = CountingBody(multipart(3 * LIMIT))
    response = post(manager_api, API_IMPORT, body)
    assert response.status_code == 413
    assert response.json() == {"detail": "The file is larger than the import limit of 97.7\xa0KB."}
    assert body.read_bytes == 0
    assert not ImportBatch.objects.exists()


@pytest.mark.django_db
def test_any_other_url_takes_a_small_body_only(client, settings):
    settings.CONCORD_REQUEST_MAX_BYTES = 1000
    body = CountingBody(b"username=maya&password=" + b"x" * 2000)
    response = post(client, "/accounts/login/", body, CONTENT_TYPE="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "larger than 1000\xa0bytes, the most this address accepts" in response.content.decode()
    assert body.read_bytes == 0


@pytest.mark.django_db
def test_a_huge_content_length_on_an_unknown_url_is_refused_unread(client):
    body = CountingBody(b"x" * 10)
    response = post(client, "/api/v1/nothing-here/", body, CONTENT_LENGTH=str(50 * 2**30))
    assert response.status_code == 413
    assert body.read_bytes == 0


@pytest.mark.parametrize("where", ["api", "page"])
def test_a_chunked_upload_over_the_limit_is_aborted_mid_stream(where, manager_api, manager_client, limits):
    body = CountingBody(multipart(20 * LIMIT))
    client, url = (manager_api, API_IMPORT) if where == "api" else (manager_client, PAGE_IMPORT)
    response = post(client, url, body, chunked=True)
    assert response.status_code == 413
    assert "The file is larger than the import limit" in response.content.decode()
    assert body.read_bytes <= LIMIT + 2 * CHUNK  # stopped soon after the limit, not at the end
    assert body.read_bytes < body.size / 5
    assert not ImportBatch.objects.exists()
    assert list(limits.iterdir()) == []  # what was spooled is deleted


def test_a_chunked_upload_within_the_limit_is_imported(manager_api, limits):
    body = CountingBody(multipart(LIMIT // 2))
    response = post(manager_api, API_IMPORT, body, chunked=True)
    assert response.status_code == 202, response.content
    assert ImportBatch.objects.get().bytes_total == LIMIT // 2
    assert body.read_bytes == body.size


def test_a_chunked_json_body_over_the_small_limit_is_refused(manager_api, settings, project):
    settings.CONCORD_REQUEST_MAX_BYTES = 1000
    body = CountingBody(b'{"tag": "v1", "policy": {"note": "' + b"x" * 50_000 + b'"}}')
    response = post(
        manager_api, "/api/v1/projects/support/releases/", body, chunked=True, CONTENT_TYPE="application/json"
    )
    assert response.status_code == 413
    assert "the most this address accepts" in response.json()["detail"]
    assert body.read_bytes <= 1001


@pytest.mark.django_db
def test_an_anonymous_upload_gets_403_without_its_file_being_read(project, limits, settings):
    # The audit's case: any 32-character CSRF cookie made the server stream the body to disk,
    # because the CSRF check reads the form (for its token) before the view refuses the request.
    settings.CONCORD_IMPORT_MAX_FILE_BYTES = 10 * 2**20
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "x" * 32
    body = CountingBody(multipart(3 * 2**20))  # over FILE_UPLOAD_MAX_MEMORY_SIZE: it would go to disk
    response = post(client, PAGE_IMPORT, body)
    assert response.status_code == 403
    assert body.read_bytes <= CHUNK  # at most the chunk holding the file's headers
    assert list(limits.iterdir()) == []
    assert not ImportBatch.objects.exists()


@pytest.mark.django_db
def test_an_anonymous_api_upload_gets_401_unread(client, project, limits):
    body = CountingBody(multipart(LIMIT // 2))
    response = post(client, API_IMPORT, body)
    assert response.status_code == 401
    assert body.read_bytes == 0


def _views(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(
                pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            )
        else:
            yield f"{namespace}{pattern.name}", pattern.callback


def test_every_api_upload_endpoint_accepts_import_sized_bodies(settings):
    uploads = {
        name
        for name, view in _views(get_resolver().url_patterns)
        if (cls := getattr(view, "cls", None))
        and cls.parser_classes is not APIView.parser_classes
        and MultiPartParser in cls.parser_classes
    }
    assert "api:project_examples_import" in uploads
    assert uploads <= set(settings.CONCORD_UPLOAD_URL_NAMES), (
        "add new upload URLs to CONCORD_UPLOAD_URL_NAMES"
    )
