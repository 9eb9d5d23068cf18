"""The SME's span review page in a real browser: each rater's spans on their own row of the same
text (a boundary difference lines up under the other rows), the decision started from one rater's
row, a typed span refused by its line and then accepted, and the decision added to the guideline
draft with the spans shown in bold and labeled."""

import pytest

from consistency.review.models import Resolution
from projects.models import GuidelineDraft
from tests.consistency.span_review_cases import span_case_make, span_ids, span_project_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sme_compares_rows_and_decides_the_gold_spans(page, login, project, sme):
    span_project_make(project)
    case = span_case_make(project)
    ids = span_ids(project)
    login(sme)
    page.goto(f"/projects/support/review/{case.pk}/")
    page.wait_for_selector("#span-rows")

    # The rows line up: "Babbage" starts at the same x in rater0's row (inside "Charles Babbage")
    # and in rater1's (a span of its own), and each row reads the whole text.
    rows = page.locator(".span-row")
    assert rows.count() == 4  # three raters and the majority
    texts = [rows.nth(i).locator(".span-line").inner_text() for i in range(4)]
    assert texts == ["Ada Lovelace met Charles Babbage in London"] * 4
    babbage = page.locator('[data-row^="a"] mark[title="PERSON 25\u201332"]').bounding_box()
    charles = page.locator('mark[title="PERSON 17\u201332"]').bounding_box()
    ada = page.locator('.span-row-majority mark[title="PERSON 0\u201312"]').bounding_box()
    width = ada["width"] / len("Ada Lovelace")
    assert babbage["x"] == pytest.approx(charles["x"] + 8 * width, abs=1)
    assert page.locator('.span-row-rater mark[data-label="PLACE"]').count() == 1
    # On a phone the rows scroll inside their card rather than widening it.
    page.set_viewport_size({"width": 420, "height": 800})
    card = page.locator("#span-rows").bounding_box()
    assert card["x"] + card["width"] <= 420
    assert page.evaluate("(a => a.scrollWidth > a.clientWidth)(document.querySelector('.span-align'))")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Start from rater2's row: their two spans are checked, the majority's is not.
    page.click('#span-start a[data-start^="a"]:has-text("rater2")')
    page.wait_for_selector('#span-start a.primary:has-text("rater2")')
    assert page.is_checked(f'input[value="0:3:{ids["PERSON"]}"]')
    assert page.is_checked(f'input[value="36:42:{ids["PLACE"]}"]')
    assert not page.is_checked(f'input[value="0:12:{ids["PERSON"]}"]')

    # Swap "Ada" for "Ada Lovelace"; select "Charles Babbage" on rater0's row with the mouse and
    # label it PERSON, which types its line; then a bad line typed by hand.
    page.uncheck(f'input[value="0:3:{ids["PERSON"]}"]')
    page.check(f'input[value="0:12:{ids["PERSON"]}"]')
    charles = page.locator('mark[title="PERSON 17\u201332"]')
    charles.scroll_into_view_if_needed()
    box = charles.bounding_box()
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 1, middle)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 1, middle, steps=5)
    page.mouse.up()
    page.wait_for_selector("#span-pick:not([hidden])")
    assert "\u201cCharles Babbage\u201d (17\u201332)" in page.inner_text("#span-pick")
    page.click('#span-pick button[data-label="PERSON"]')
    assert page.input_value("#id_extra_spans") == "17 32 PERSON"
    page.fill("#id_extra_spans", "17 32 PERSON\n17 x PERSON")
    page.fill("#id_rationale", "Full names and places.")
    page.click("#resolve-spans")
    page.wait_for_selector("text=Extra spans, line 2: the end 'x' is not a whole number")
    assert not Resolution.objects.exists()
    assert page.input_value("#id_extra_spans") == "17 32 PERSON\n17 x PERSON"
    assert page.is_checked(f'input[value="0:12:{ids["PERSON"]}"]')  # as the SME left it
    page.fill("#id_extra_spans", "17 32 PERSON")
    page.click("#resolve-spans")
    page.wait_for_selector("#queue-done")
    resolution = Resolution.objects.get(disagreement=case)
    assert resolution.spans == [[0, 12, ids["PERSON"]], [17, 32, ids["PERSON"]], [36, 42, ids["PLACE"]]]

    page.click("#add-last-worked-example")
    page.wait_for_selector("text=ner-1 was added to the guideline draft")
    assert "**Charles Babbage** `PERSON`" in GuidelineDraft.objects.get(project=project).body
    page.goto("/projects/support/settings/guideline/")
    assert page.inner_text(".markdown strong >> nth=0") == "Ada Lovelace"
    assert page.csp_errors == []
