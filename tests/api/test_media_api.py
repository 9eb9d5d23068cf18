"""Media through the API: examples and leases say where their file is, and the file is served by
token to the project's members only, with the same safe headers as the labeling page."""

import hashlib
import uuid

import pytest
from django.test import Client

from projects.models import Role
from tests.api.conftest import token_client
from tests.conftest import _member
from tests.factories import ExampleFactory
from tests.media_files import image_bytes, stored_media_example, wav_bytes


def test_examples_list_the_media_and_the_file_downloads_by_token(project, manager):
    png = image_bytes("PNG", size=(64, 48))
    image = stored_media_example(project, png, "image/png", name="scans/knee 1.png")
    text = ExampleFactory(project=project, external_id="t1")
    client = token_client(manager)

    listed = client.get(f"/api/v1/projects/{project.slug}/examples/").json()["results"]
    by_id = {row["id"]: row for row in listed}
    assert by_id[text.pk]["media"] is None
    media = by_id[image.pk]["media"]
    assert media["name"] == "scans/knee 1.png"
    assert (media["type"], media["bytes"], media["sha256"]) == ("image/png", len(png), image.media_sha256)
    assert media["url"] == f"http://testserver/api/v1/projects/{project.slug}/examples/{image.pk}/media/"
    detail = client.get(f"/api/v1/projects/{project.slug}/examples/{image.pk}/").json()
    assert detail["media"] == media

    response = client.get(media["url"])
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == png
    assert hashlib.sha256(body).hexdigest() == media["sha256"]
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private")
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_labeler_gets_the_media_with_the_lease_and_seeks_audio(project, labeler):
    data = wav_bytes()
    stored_media_example(project, data, "audio/wav", name="calls/1.wav")
    client = token_client(labeler)

    lease = client.post(f"/api/v1/projects/{project.slug}/assignments/next/").json()
    media = lease["example"]["media"]
    assert (media["name"], media["type"]) == ("calls/1.wav", "audio/wav")
    partial = client.get(media["url"], HTTP_RANGE="bytes=10-19")
    assert partial.status_code == 206
    assert b"".join(partial.streaming_content) == data[10:20]
    assert partial["Content-Range"] == f"bytes 10-19/{len(data)}"

    submitted = client.post(
        f"/api/v1/projects/{project.slug}/annotations/",
        {"assignment": lease["id"], "label": "bug", "client_token": str(uuid.uuid4())},
        content_type="application/json",
    )
    assert submitted.status_code == 201


@pytest.mark.parametrize("who", ["anonymous", "outsider", "labeler of another project"])
def test_nobody_but_a_member_gets_the_file(project, other_project, outsider, who):
    image = stored_media_example(project, image_bytes("PNG"), "image/png", name="a.png")
    address = f"/api/v1/projects/{project.slug}/examples/{image.pk}/media/"
    if who == "anonymous":
        assert Client().get(address).status_code == 401
        return
    user = outsider if who == "outsider" else _member(other_project, Role.LABELER, "elsewhere")
    client = token_client(user)
    assert client.get(address).status_code == 404
    # the same example id through the caller's own project is no way round either
    assert client.get(f"/api/v1/projects/{other_project.slug}/examples/{image.pk}/media/").status_code == 404


def test_a_text_example_or_an_unservable_type_has_no_file(project, manager):
    client = token_client(manager)
    text = ExampleFactory(project=project)
    html = stored_media_example(project, b"<html>", "text/html", name="x.html")
    for example in (text, html):
        response = client.get(f"/api/v1/projects/{project.slug}/examples/{example.pk}/media/")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
