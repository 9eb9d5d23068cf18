"""A labeler marks named entities in a real browser: the keyboard (arrows move a token cursor,
Shift extends, a label key marks, Delete removes, Enter saves, "." answers no entities), the mouse
(a drag snaps to whole tokens, a click selects a span, × removes it), nested spans kept visible,
crossing spans refused before sending, code point offsets after an emoji; and the same page
without JavaScript (one span per line)."""

import pytest

from labeling.models import Annotation
from projects.models import TaskType
from tests.e2e.conftest import log_in
from tests.factories import ExampleFactory, LabelFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The emoji is one code point but two UTF-16 units: "Ada Lovelace" is 2..14 in code points.
TEXT = "🙂 Ada Lovelace met Charles Babbage in London."


@pytest.fixture
def span_project(project):
    project.labels.all().delete()
    project.task_type = TaskType.SPANS
    project.save(update_fields=["task_type"])
    for position, (name, key, colour) in enumerate(
        [("PER", "p", "#e45756"), ("ORG", "o", "#4c78a8"), ("LOC", "l", "#54a24b")]
    ):
        LabelFactory(project=project, name=name, shortcut_key=key, colour=colour, position=position)
    return project


def stored(project, annotation) -> list[tuple[int, int, str]]:
    names = dict(project.labels.values_list("pk", "name"))
    return [(start, end, names[label]) for start, end, label in annotation.spans]


def listed(page) -> list[str]:
    return [text.replace("×", "").strip() for text in page.locator("#span-list li").all_inner_texts()]


def wait_for_next(page, shown):
    """Until the next example is on screen (not only loading)."""
    page.wait_for_function(
        "p => ![p, ''].includes(document.getElementById('work-area').dataset.exampleId)", arg=shown
    )


def test_the_keyboard_marks_spans_and_enter_and_dot_save_them(page, login, span_project, labeler):
    project = span_project
    project.lease_queue_size = 1  # the next example arrives only with each answer: keys wait in order
    project.save()
    ExampleFactory(project=project, text=TEXT)
    ExampleFactory(project=project, text="Nobody here.")
    ExampleFactory(project=project, text="Grace Hopper")
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_selector("#span-form")
    assert page.locator("#span-offsets").is_hidden()  # the offsets box is the no-JavaScript form

    keys = page.keyboard
    keys.press("ArrowRight")  # the cursor starts on the emoji; now on "Ada"
    keys.press("Shift+ArrowRight")  # "Ada Lovelace"
    keys.press("p")
    assert listed(page) == ["PER · Ada Lovelace"]
    assert page.locator(".tok.in-span").all_inner_texts() == ["Ada", "Lovelace"]
    for key in ("ArrowRight", "ArrowRight", "Shift+ArrowRight", "o"):  # "Charles Babbage"
        keys.press(key)
    keys.press("ArrowLeft")  # the cursor on "Charles" alone
    keys.press("l")  # would overlap ORG, and spans may not nest here: refused, with the reason
    assert "does not let spans nest" in page.locator("#save-status").inner_text()
    assert listed(page) == ["PER · Ada Lovelace", "ORG · Charles Babbage"]
    keys.press("Delete")  # the span at the cursor goes
    assert listed(page) == ["PER · Ada Lovelace"]
    for key in ("Shift+ArrowRight", "o", "ArrowRight", "ArrowRight", "l"):
        keys.press(key)
    assert listed(page) == ["PER · Ada Lovelace", "ORG · Charles Babbage", "LOC · London"]
    first = page.locator("#work-area").get_attribute("data-example-id")
    keys.press("Enter")
    wait_for_next(page, first)

    # Enter with nothing marked saves nothing and says to use "No entities".
    second = page.locator("#work-area").get_attribute("data-example-id")
    keys.press("Enter")
    assert "No entities" in page.locator("#save-status").inner_text()
    assert page.locator("#work-area").get_attribute("data-example-id") == second
    assert listed(page) == []
    # "." answers no entities; the keys for the third example are pressed before it has arrived.
    for key in (".", "Shift+ArrowRight", "p", "Enter"):
        keys.press(key)
    page.wait_for_function("() => Number(document.getElementById('session-count')?.textContent) === 3")
    page.wait_for_function(
        "() => document.getElementById('undo-label')?.textContent === 'PER \"Grace Hopper\"'"
    )
    page.wait_for_selector("#nothing-left")  # the page asked what is left: nothing
    assert page.csp_errors == []

    annotations = list(Annotation.objects.filter(rater=labeler).order_by("created_at", "id"))
    assert [stored(project, a) for a in annotations] == [
        [(2, 14, "PER"), (19, 34, "ORG"), (38, 44, "LOC")],
        [],
        [(0, 12, "PER")],
    ]
    assert TEXT[2:14] == "Ada Lovelace"
    assert all(a.label_id is None and a.labels is None for a in annotations)


def drag_over(page, first, last):
    """Press the mouse inside the first token and let go inside the last, as a labeler drags."""
    start = page.locator(f".tok:text-is('{first}')").first.bounding_box()
    end = page.locator(f".tok:text-is('{last}')").first.bounding_box()
    page.mouse.move(start["x"] + 3, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] - 3, end["y"] + end["height"] / 2, steps=5)
    page.mouse.up()


def test_the_mouse_selects_whole_tokens_and_nested_spans_stay_visible(page, login, span_project, labeler):
    project = span_project
    project.spans_may_nest = True
    project.save()
    ExampleFactory(project=project, text=TEXT)
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_selector("#span-form")

    drag_over(page, "Ada", "Lovelace")
    assert page.locator(".tok.selected").all_inner_texts() == ["Ada", "Lovelace"]
    page.click("#span-form .span-label[data-label-name=PER]")
    drag_over(page, "Lovelace", "Lovelace")
    page.keyboard.press("o")  # nests inside PER: allowed in this project
    assert listed(page) == ["PER · Ada Lovelace", "ORG · Lovelace"]
    # Both stay visible: the inner span colours the word, the outer one underlines it.
    lovelace = page.locator(".tok:text-is('Lovelace')")
    assert lovelace.get_attribute("data-labels") == "PER ORG"
    assert "inset" in lovelace.evaluate("tok => tok.style.boxShadow")
    assert lovelace.evaluate("tok => tok.style.backgroundColor") != ""
    assert page.locator(".tok:text-is('Ada')").evaluate("tok => tok.style.boxShadow") == ""
    # The space inside "Ada Lovelace" is coloured with it; the one after it is not.
    assert page.locator(".tok:text-is('Ada') + .gap").evaluate("gap => gap.style.backgroundColor") != ""
    assert page.locator(".tok:text-is('Lovelace') + .gap").evaluate("gap => gap.style.backgroundColor") == ""

    # A selection that would cross a span is refused here and never sent.
    page.keyboard.press("Shift+ArrowRight")  # "Lovelace met" crosses "Ada Lovelace"
    page.keyboard.press("l")
    assert "cross" in page.locator("#save-status").inner_text()
    assert len(listed(page)) == 2

    # A click on a marked word selects its span; × removes a span from the list.
    page.click(".tok:text-is('Ada')")
    assert page.locator("#span-list li.selected").inner_text().startswith("PER · Ada Lovelace")
    page.click("#span-list li[data-label=ORG] .remove-span")
    assert listed(page) == ["PER · Ada Lovelace"]
    drag_over(page, "London", "London")
    page.click("#span-form .span-label[data-label-name=LOC]")
    page.click("#submit-spans")
    page.wait_for_selector("#nothing-left")
    assert page.csp_errors == []
    assert stored(project, Annotation.objects.get(rater=labeler)) == [(2, 14, "PER"), (38, 44, "LOC")]


def test_the_span_page_works_without_javascript(browser, live_server, span_project, labeler):
    project = span_project
    ExampleFactory(project=project, text=TEXT)
    ExampleFactory(project=project, text="Nobody here.")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        log_in(context, labeler, live_server.url)
        tab = context.new_page()
        tab.goto("/projects/support/label/")
        assert tab.locator("#span-labels").is_hidden()  # buttons that need the script are not shown
        # An empty box is not "no entities": the form says so and stores nothing.
        tab.click("#submit-spans")
        tab.wait_for_selector("text=Mark the entities")
        tab.fill("#id_spans", "2 14 PER\n38 99 LOC")
        tab.click("#submit-spans")
        tab.wait_for_selector("text=Line 2: end 99 is outside the text")
        assert not Annotation.objects.filter(rater=labeler).exists()
        tab.fill("#id_spans", "2 14 PER\n38 44 LOC")
        tab.click("#submit-spans")  # a plain form post and redirect
        tab.wait_for_selector("text=Saved.")
        tab.click("#no-entities")
        tab.wait_for_selector("text=Saved.")
        annotations = list(Annotation.objects.filter(rater=labeler).order_by("created_at", "id"))
        assert [stored(project, a) for a in annotations] == [[(2, 14, "PER"), (38, 44, "LOC")], []]
    finally:
        context.close()


def test_undo_brings_the_example_back_to_mark_again(page, login, span_project, labeler):
    project = span_project
    per = project.labels.get(name="PER")
    tricky = str(per.pk)  # a name that reads as another label's id
    LabelFactory(project=project, name=tricky, shortcut_key="w", position=9)
    ExampleFactory(project=project, text=TEXT)
    ExampleFactory(project=project, text="Grace Hopper")
    login(labeler)
    page.goto("/projects/support/label/")
    page.wait_for_selector("#span-form")
    first = page.locator("#work-area").get_attribute("data-example-id")
    for key in ("ArrowRight", "Shift+ArrowRight", "p", "Enter"):
        page.keyboard.press(key)
    page.wait_for_function(
        "() => document.getElementById('undo-label')?.textContent === 'PER \"Ada Lovelace\"'"
    )
    page.keyboard.press("u")
    page.wait_for_function("p => document.getElementById('work-area').dataset.exampleId === p", arg=first)
    assert not Annotation.objects.filter(rater=labeler).exists()
    # The example is back with nothing marked, and the keys work on it again (labels are sent by
    # name, so one named like another's id is still itself).
    assert listed(page) == []
    for key in ("ArrowRight", "ArrowRight", "w"):
        page.keyboard.press(key)
    assert listed(page) == [f"{tricky} · Lovelace"]
    page.keyboard.press("Enter")
    page.wait_for_function("() => Number(document.getElementById('session-count')?.textContent) === 2")
    assert stored(project, Annotation.objects.get(rater=labeler)) == [(6, 14, tricky)]
    assert page.csp_errors == []
