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
        "p => !['', String(p)].includes(document.getElementById('work-area').dataset.exampleId)",
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
    second = wait_for_next(page, first)  # already in the page: the label is saved in the background

    page.keyboard.press("a")  # ambiguous, focus moves to the note
    page.keyboard.type("two topics")
    page.keyboard.press("Escape")
    page.keyboard.press("2")  # bug
    third = wait_for_next(page, second)

    page.keyboard.press("3")  # feature
    fourth = wait_for_next(page, third)

    # The undo button names the last label once the background submit is answered.
    page.wait_for_function("() => document.getElementById('undo-label')?.textContent === 'feature'")
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
    # The undone example is the first of the queue again; the one shown before it went back to
    # the pool (and, with nobody else labeling, came back as the next in the queue).
    queue = Assignment.objects.filter(rater=labeler, status=Assignment.Status.LEASED).order_by(
        "expires_at", "id"
    )
    assert [a.example_id for a in queue][:1] == [third]
    counts = dict(Example.objects.filter(project=project).values_list("id", "annotation_count"))
    assert counts[first] == counts[second] == 1
    assert counts[third] == counts[fourth] == 0


def test_keys_sent_as_fast_as_possible_label_ten_examples_once_each_in_order(page, login, project, labeler):
    project.lease_queue_size = 2
    project.save()
    ExampleFactory.create_batch(12, project=project)
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_selector("#label-form")
    keys = "1234123412"
    for key in keys:  # no waiting between keys: most arrive before the server has answered
        page.keyboard.press(key)
    page.wait_for_function("() => Number(document.getElementById('session-count')?.textContent) === 10")
    annotations = list(Annotation.objects.filter(rater=labeler).order_by("created_at", "id"))
    assert len(annotations) == 10
    # In order: the n-th key labeled the n-th example handed out, with the n-th label.
    names = dict(zip("1234", ["billing", "bug", "feature", "other"], strict=True))
    assert [a.label.name for a in annotations] == [names[key] for key in keys]
    assert [a.example_id for a in annotations] == sorted(a.example_id for a in annotations)
    assert len({a.example_id for a in annotations}) == 10
    assert page.locator("#save-status").is_hidden()
    assert page.csp_errors == []


def test_a_failed_background_submit_is_shown_and_retried_with_the_same_token(page, login, project, labeler):
    ExampleFactory.create_batch(4, project=project)
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_selector("#label-form")
    failures = {"left": 2}

    def flaky(route):
        # The first two tries fail as a dropped connection would; the third goes through.
        if failures["left"] > 0:
            failures["left"] -= 1
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/submit/", flaky)
    first = current_id(page)
    page.keyboard.press("2")
    assert wait_for_next(page, first) != first  # the next example shows at once all the same
    page.wait_for_selector("#save-status:not([hidden])")
    assert "trying again" in page.locator("#save-status").inner_text()
    page.wait_for_function("() => Number(document.getElementById('session-count')?.textContent) === 1")
    assert page.locator("#save-status").is_hidden()
    stored = Annotation.objects.get(rater=labeler)
    assert (stored.example_id, stored.label.name) == (first, "bug")


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
