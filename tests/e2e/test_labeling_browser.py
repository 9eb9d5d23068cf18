"""A labeler works through the labeling page with the keyboard only, in a real browser."""

import uuid

import pytest

from labeling.models import Annotation, Assignment
from labeling.services import annotations as services
from projects.models import Example
from tests.e2e.conftest import log_in
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def current_id(page) -> int:
    return int(page.locator("#work-area").get_attribute("data-example-id"))


def wait_for_next(page, previous: int) -> int:
    page.wait_for_function(
        "previous => document.querySelector('#work-area').dataset.exampleId !== String(previous)",
        arg=previous,
    )
    return current_id(page)


def test_labeler_labels_skips_and_undoes_with_the_keyboard(page, login, project, labeler):
    for n in range(6):
        ExampleFactory(project=project, external_id=f"b{n}", text=f"Browser example {n}")
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_selector("#label-form")
    # A marker that survives only if no full page load happens between examples.
    page.evaluate("window.concordMarker = 'still-here'")

    first = current_id(page)
    page.keyboard.press("1")  # billing
    second = wait_for_next(page, first)
    assert page.locator("#work-area .message").inner_text() == "Saved."

    page.keyboard.press("a")  # ambiguous, focus moves to the note
    page.keyboard.type("two topics")
    page.keyboard.press("Escape")
    page.keyboard.press("2")  # bug
    third = wait_for_next(page, second)

    page.keyboard.press("3")  # feature
    fourth = wait_for_next(page, third)

    page.keyboard.press("s")
    page.keyboard.press("Enter")  # no reason: the browser keeps the form (and the server would refuse)
    assert page.evaluate("document.activeElement.id") == "id_skip_reason"
    assert page.evaluate("document.getElementById('id_skip_reason').validity.valueMissing")
    page.keyboard.type("not in English")
    page.keyboard.press("Enter")
    fifth = wait_for_next(page, fourth)
    assert fifth not in (first, second, third, fourth)

    page.keyboard.press("u")  # undo the label on the third example: it comes back
    assert wait_for_next(page, fifth) == third
    assert "undone" in page.locator("#work-area .message").inner_text()
    assert page.evaluate("window.concordMarker") == "still-here"
    assert page.csp_errors == []

    annotations = {a.example_id: a for a in Annotation.objects.filter(rater=labeler)}
    assert set(annotations) == {first, second}
    assert annotations[first].label.name == "billing"
    assert not annotations[first].ambiguous
    assert annotations[second].label.name == "bug"
    assert annotations[second].ambiguous
    assert annotations[second].ambiguous_note == "two topics"
    assert annotations[second].time_spent_ms > 0
    skipped = Assignment.objects.get(example_id=fourth, rater=labeler)
    assert skipped.status == Assignment.Status.SKIPPED
    assert skipped.skip_reason == "not in English"
    assert Assignment.objects.get(example_id=third, rater=labeler).status == Assignment.Status.LEASED
    assert Assignment.objects.get(example_id=fifth, rater=labeler).status == Assignment.Status.RELEASED
    counts = dict(Example.objects.filter(project=project).values_list("id", "annotation_count"))
    assert counts[first] == counts[second] == 1
    assert counts[third] == counts[fourth] == 0


def test_the_page_works_without_javascript(browser, live_server, project, labeler):
    ExampleFactory.create_batch(2, project=project)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        log_in(context, labeler, live_server.url)
        tab = context.new_page()
        tab.goto("/projects/support/label/")
        tab.fill("#id_note", "pressing Enter here must not pick a label")
        tab.press("#id_note", "Enter")
        tab.wait_for_selector("text=Choose a label")
        assert not Annotation.objects.filter(rater=labeler).exists()
        tab.click("button.label-button >> nth=1")  # bug, as a plain form post and redirect
        tab.wait_for_selector("text=Saved.")
        assert Annotation.objects.get(rater=labeler).label.name == "bug"
    finally:
        context.close()


def test_manager_progress_chart_draws_under_the_csp(page, login, project, manager, labeler):
    ExampleFactory.create_batch(3, project=project)
    assignment = services.assignment_next(project=project, user=labeler)
    services.annotation_submit(
        project=project,
        user=labeler,
        example_id=assignment.example_id,
        label_id=project.labels.first().pk,
        client_token=uuid.uuid4(),
        time_spent_ms=1200,
    )
    login(manager)
    page.goto("/projects/support/progress/")
    # Chart.js sizes the canvas once it has drawn the chart.
    page.wait_for_function("document.getElementById('distribution-chart').height > 0")
    assert page.evaluate("typeof window.Chart") == "function"
    assert page.evaluate("Object.keys(window.Chart.instances).length") == 2
    assert page.csp_errors == []
