"""Serving media files: only to the project's members, only as the checked type, never as a page."""

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import Role
from tests.conftest import _member, client_for
from tests.factories import ExampleFactory
from tests.media_files import image_bytes, stored_media_example, wav_bytes


def media_example(project, data: bytes, media_type: str, name: str = "scans/knee 1.png"):
    return stored_media_example(project, data, media_type, name=name)


def url(example):
    return reverse("projects:example_media", args=[example.project.slug, example.pk])


@pytest.fixture
def png():
    return image_bytes("PNG")


def test_a_member_gets_the_file_with_safe_headers(project, labeler_client, png):
    example = media_example(project, png, "image/png")

    response = labeler_client.get(url(example))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private")
    assert response["Content-Disposition"] == 'inline; filename="knee 1.png"'
    assert "sandbox" in response["Content-Security-Policy"]
    assert labeler_client.get(url(example), HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


@pytest.mark.parametrize("who", ["anonymous", "outsider", "labeler of another project"])
def test_anyone_but_a_member_gets_404(project, other_project, outsider, png, who):
    example = media_example(project, png, "image/png")
    if who == "anonymous":
        client = Client()
    elif who == "outsider":
        client = client_for(outsider)
    else:
        client = client_for(_member(other_project, Role.LABELER, "elsewhere"))
        # the same example id through the other project's slug is no way round either
        assert client.get(reverse("projects:example_media", args=["other", example.pk])).status_code == 404

    assert client.get(url(example)).status_code == 404


def test_text_examples_and_unservable_types_are_404(project, labeler_client):
    text_example = ExampleFactory(project=project)
    html = media_example(project, b"<html>", "text/html", name="x.html")
    svg = media_example(project, b"<svg/>", "image/svg+xml", name="x.svg")
    for example in (text_example, html, svg):
        assert labeler_client.get(url(example)).status_code == 404


def test_audio_answers_byte_ranges_for_seeking(project, manager_client):
    data = wav_bytes()
    example = media_example(project, data, "audio/wav", name="call.wav")

    partial = manager_client.get(url(example), HTTP_RANGE="bytes=10-19")
    assert partial.status_code == 206
    assert partial["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert b"".join(partial.streaming_content) == data[10:20]
    assert manager_client.get(url(example), HTTP_RANGE=f"bytes={len(data)}-").status_code == 416
    assert manager_client.post(url(example)).status_code == 405
