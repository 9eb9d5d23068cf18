"""Pages laid out at a normal laptop width (1280 px) in a real browser: long guideline lines wrap
inside the page instead of widening it, and the review queue's filters sit in one row, each
label on its control."""

import pytest

from projects.services.guidelines import guideline_draft_save, guideline_publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 1280

FILTER_GEOMETRY = """() => [...document.querySelectorAll('#queue-filters .field')].map((field) => {
  const label = field.querySelector('label');
  const control = field.querySelector('select, input, button');
  const box = (element) => element && element.getBoundingClientRect();
  return {label: box(label) && {left: box(label).left, bottom: box(label).bottom},
          control: {left: box(control).left, top: box(control).top, width: box(control).width}};
})"""


def overflow(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def test_long_guideline_lines_wrap_and_queue_filters_fit_one_row(page, login, project, manager, sme):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    long_line = " ".join(f"word{n}" for n in range(400))
    long_word = "https://example.org/" + "a" * 300
    guideline_draft_save(project=project, user=manager, body="# Guideline\n\nShort.")
    guideline_publish(project=project, user=manager, changelog="v1")
    guideline_draft_save(
        project=project, user=manager, body=f"# Guideline\n\nShort.\n\n{long_line}\n\n{long_word}"
    )
    guideline_publish(project=project, user=manager, changelog="v2")

    login(sme)
    page.goto("/projects/support/guidelines/diff/?a=1&b=2")
    assert "word399" in page.inner_text("#guideline-diff")
    assert overflow(page) <= 0

    page.goto("/projects/support/review/")
    fields = page.evaluate(FILTER_GEOMETRY)
    assert len(fields) == 6
    tops = {round(field["control"]["top"]) for field in fields}
    assert len(tops) == 1, fields  # one row at this width
    for field in fields:
        assert field["control"]["width"] >= 64, field
        if field["label"]:
            assert field["label"]["bottom"] <= field["control"]["top"] + 1, field  # above its control
            assert abs(field["label"]["left"] - field["control"]["left"]) <= 1, field
    assert overflow(page) <= 0
    assert page.csp_errors == []
