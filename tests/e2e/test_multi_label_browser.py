"""A labeler labels a multi-label project with the keyboard only (keys toggle labels, Enter saves
the set, "." answers none of these), in a real browser; and the same page without JavaScript."""

import pytest

from labeling.models import Annotation
from tests.e2e.conftest import log_in
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def names(project, annotation) -> list[str]:
    by_id = dict(project.labels.values_list("pk", "name"))
    return [by_id[pk] for pk in annotation.labels]


def test_keys_toggle_labels_enter_saves_the_set_and_dot_answers_none_of_these(
    page, login, multi_project, labeler
):
    project = multi_project
    project.allow_empty_label_set = True
    project.lease_queue_size = 2
    project.save()
    ExampleFactory.create_batch(8, project=project)
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_selector("#label-set")
    page.evaluate("window.concordMarker = 'still-here'")

    first = page.locator("#work-area").get_attribute("data-example-id")
    page.keyboard.press("1")  # billing on
    page.keyboard.press("2")  # bug on
    page.keyboard.press("3")  # feature on
    page.keyboard.press("3")  # feature off again
    # The chosen set is shown and the toggles look pressed.
    assert page.locator("#chosen-set").inner_text() == "billing + bug"
    assert page.locator(".label-toggle.pressed").count() == 2
    assert page.locator(".label-toggle[data-label-name=bug]").get_attribute("aria-pressed") == "true"
    page.keyboard.press("Enter")
    page.wait_for_function("p => document.getElementById('work-area').dataset.exampleId !== p", arg=first)
    # The next example starts with nothing chosen.
    assert page.locator("#chosen-set").inner_text() == "nothing yet"
    assert page.locator(".label-toggle.pressed").count() == 0

    # Enter with nothing chosen saves nothing and says why.
    second = page.locator("#work-area").get_attribute("data-example-id")
    page.keyboard.press("Enter")
    assert "none of these" in page.locator("#save-status").inner_text()
    assert page.locator("#work-area").get_attribute("data-example-id") == second
    # The first set's save finishing in the background leaves the hint for the labeler to read.
    page.wait_for_function("() => Number(document.getElementById('session-count')?.textContent) === 1")
    assert "none of these" in page.locator("#save-status").inner_text()

    # The rest as fast as keys go: most arrive before the server has answered (queued in order).
    keys = [".", "4", "Enter", "2", "4", "Enter", "1", "Enter", ".", "3", "1", "Enter"]
    for key in keys:
        page.keyboard.press(key)
    page.wait_for_function("() => Number(document.getElementById('session-count')?.textContent) === 7")
    page.wait_for_function("() => document.getElementById('undo-label')?.textContent === 'billing + feature'")
    assert page.evaluate("window.concordMarker") == "still-here"
    assert page.csp_errors == []

    annotations = list(Annotation.objects.filter(rater=labeler).order_by("created_at", "id"))
    assert len(annotations) == 7
    assert len({a.example_id for a in annotations}) == 7
    # In order: the n-th answer went to the n-th example handed out.
    assert [a.example_id for a in annotations] == sorted(a.example_id for a in annotations)
    assert [names(project, a) for a in annotations] == [
        ["billing", "bug"],
        [],
        ["other"],
        ["bug", "other"],
        ["billing"],
        [],
        ["billing", "feature"],
    ]
    assert all(a.label_id is None for a in annotations)


def test_the_multi_label_page_works_without_javascript(browser, live_server, multi_project, labeler):
    project = multi_project
    project.allow_empty_label_set = True
    project.save()
    ExampleFactory.create_batch(3, project=project)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        log_in(context, labeler, live_server.url)
        tab = context.new_page()
        tab.goto("/projects/support/label/")
        # Nothing checked is not "none of these": the form says so and stores nothing.
        tab.click("#submit-set")
        tab.wait_for_selector("text=Choose the labels that apply")
        assert not Annotation.objects.filter(rater=labeler).exists()
        tab.check(".label-toggle[data-label-name=billing] input")
        tab.check(".label-toggle[data-label-name=other] input")
        tab.click("#submit-set")  # a plain form post and redirect
        tab.wait_for_selector("text=Saved.")
        tab.click("#none-of-these")
        tab.wait_for_selector("text=Saved.")
        stored = list(Annotation.objects.filter(rater=labeler).order_by("created_at", "id"))
        assert [names(project, a) for a in stored] == [["billing", "other"], []]
    finally:
        context.close()


def test_the_sme_decides_a_label_set_with_the_keyboard(page, login, multi_project, raters, sme):
    """Label keys tick and untick the gold set (starting from the per-label majority), Enter
    decides; the next case's "." decides "none of these" where the project allows it."""
    from consistency.review.models import Resolution
    from tests.consistency.multi_label_cases import multi_case_make

    project = multi_project
    project.allow_empty_label_set = True
    project.save()
    by_name = dict(project.labels.values_list("name", "pk"))
    first = multi_case_make(project, raters, external_id="m-1")
    second = multi_case_make(project, raters, external_id="m-2")
    login(sme)
    page.goto(f"/projects/support/review/{first.pk}/")
    page.wait_for_selector("#gold-set")
    assert page.locator("#gold-set input:checked").count() == 1  # bug: 2 of 3
    page.keyboard.press("1")  # billing on
    page.keyboard.press("3")  # feature on
    page.keyboard.press("3")  # feature off again
    page.keyboard.press("Enter")
    page.wait_for_function(
        "wanted => document.querySelector('#review-item').dataset.disagreementId === wanted",
        arg=str(second.pk),
    )
    page.keyboard.press(".")
    page.wait_for_function("() => !document.querySelector('#gold-set')")
    decided = {r.disagreement_id: sorted(r.labels) for r in Resolution.objects.all()}
    assert decided == {first.pk: sorted([by_name["billing"], by_name["bug"]]), second.pk: []}
