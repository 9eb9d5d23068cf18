"""A labeler labels an image project with the keyboard: zoom keys zoom, label keys still label."""

import pytest

from labeling.models import Annotation
from tests.media_files import image_bytes, stored_media_example, wav_bytes


def media_example(project, n: int, data: bytes, media_type: str):
    return stored_media_example(project, data, media_type, name=f"m{n}", external_id=f"m{n}")


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def zoom_of(page) -> str:
    return page.locator(".media-image").first.get_attribute("data-zoom")  # the shown one comes first


def test_labeler_zooms_and_labels_images_from_the_keyboard(page, login, project, labeler):
    for n in range(2):
        media_example(project, n, image_bytes("PNG", size=(400, 300), colour=(40 * n, 90, 200)), "image/png")
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_selector("#current-example .media-image")
    page.wait_for_function(
        "document.querySelector('#current-example .media-image').naturalWidth === 400"
    )  # served and decoded
    shown = page.locator("#current-example .media-image")
    fitted = shown.bounding_box()["width"]

    page.keyboard.press("+")
    page.keyboard.press("+")
    assert zoom_of(page) == "2"
    assert shown.bounding_box()["width"] == pytest.approx(2 * fitted, abs=2)
    page.keyboard.press("-")
    assert zoom_of(page) == "1.5"
    page.keyboard.press("0")
    assert zoom_of(page) == "1"
    assert Annotation.objects.count() == 0  # zoom keys labelled nothing

    first = int(page.locator("#work-area").get_attribute("data-example-id"))
    page.keyboard.press("2")  # bug
    page.wait_for_function(
        "first => document.querySelector('#work-area').dataset.exampleId !== String(first)", arg=first
    )
    page.wait_for_selector("#current-example .media-image")
    page.keyboard.press("+")  # the next image zooms too (the script survived the swap)
    assert zoom_of(page) == "1.5"
    # The label is saved in the background: the undo button names it once the server has answered.
    page.wait_for_function("() => document.getElementById('undo-label')?.textContent === 'bug'")
    annotation = Annotation.objects.get()
    assert (annotation.example_id, annotation.label.name) == (first, "bug")
    assert page.csp_errors == []


def test_space_plays_audio_and_does_not_label(page, login, project, labeler):
    media_example(project, 0, wav_bytes(frames=8000 * 20), "audio/wav")
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_function("document.querySelector('.media-audio').readyState >= 1")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.querySelector('.media-audio').currentTime") == pytest.approx(5, abs=0.5)
    page.keyboard.press("Space")
    page.wait_for_function("!document.querySelector('.media-audio').paused")
    page.keyboard.press("Space")
    page.wait_for_function("document.querySelector('.media-audio').paused")
    assert Annotation.objects.count() == 0
