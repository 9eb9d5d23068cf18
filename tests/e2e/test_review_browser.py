"""The review loop in a real browser: an SME resolves a disagreement from the keyboard and adds it
to the draft as a worked example; a manager publishes version 2; a labeler sees the banner and
their next annotation is stamped with version 2. Adding a worked example never brings back a case
the keys could then change; excluding needs a rationale and a confirmation."""

import uuid

import pytest

from consistency.review.models import Resolution
from labeling.models import Annotation, Disagreement
from labeling.services import annotations as services
from projects.models import GuidelineDraft, Role
from projects.services.guidelines import guideline_draft_save, guideline_publish
from tests.e2e.conftest import log_in
from tests.factories import ExampleFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _label(project, user, name):
    assignment = services.assignment_next(project=project, user=user)
    services.annotation_submit(
        project=project,
        user=user,
        example_id=assignment.example_id,
        label_id=project.labels.get(name=name).pk,
        client_token=uuid.uuid4(),
        note=f"{user.username} thinks {name}",
    )


def test_sme_resolves_manager_publishes_labeler_sees_the_banner(
    browser, live_server, page, login, project, manager, sme, labeler
):
    guideline_draft_save(project=project, user=manager, body="# Guideline\n\n## billing\nMoney matters.")
    guideline_publish(project=project, user=manager, changelog="First version")
    example = ExampleFactory(project=project, external_id="t-42", text="I was charged twice for one order")
    raters = [labeler]
    for n in range(2):
        user = UserFactory(username=f"rater{n}")
        MembershipFactory(user=user, project=project, role=Role.LABELER)
        raters.append(user)
    for user, name in zip(raters, ["billing", "bug", "billing"], strict=True):
        _label(project, user, name)
    disagreement = Disagreement.objects.get(example=example, status="open")
    later = ExampleFactory(project=project, external_id="t-43", text="The app crashes on start")

    # The SME, keyboard only: N for the rationale, Escape, then the label key.
    login(sme)
    page.goto(f"/projects/support/review/{disagreement.pk}/")
    page.wait_for_selector("#resolve-form")
    assert "rater0 thinks bug" in page.inner_text("#review-item")
    assert "Money matters." in page.inner_text("#review-item")
    page.keyboard.press("n")
    page.keyboard.type("a double charge is a billing problem")
    page.keyboard.press("Escape")
    page.keyboard.press("1")  # billing
    page.wait_for_selector("#queue-done")
    resolution = Resolution.objects.get(disagreement=disagreement)
    assert (resolution.label.name, resolution.sme, resolution.rationale) == (
        "billing", sme, "a double charge is a billing problem",
    )  # fmt: skip
    page.click("#add-last-worked-example")
    page.wait_for_selector("text=t-42 was added to the guideline draft")
    draft = GuidelineDraft.objects.get(project=project).body
    assert "## Worked examples" in draft
    assert "`t-42`" in draft
    assert page.csp_errors == []

    # The manager publishes version 2 (the confirmation dialog is accepted).
    manager_context = browser.new_context(base_url=live_server.url)
    try:
        log_in(manager_context, manager, live_server.url)
        tab = manager_context.new_page()
        tab.on("dialog", lambda dialog: dialog.accept())
        tab.goto("/projects/support/settings/guideline/")
        tab.fill("input[name=changelog]", "Worked example: double charges are billing")
        tab.click("text=Publish saved draft")
        tab.wait_for_selector("text=Version 2 published")
    finally:
        manager_context.close()

    # The labeler sees the banner and labels under version 2.
    labeler_context = browser.new_context(base_url=live_server.url)
    try:
        log_in(labeler_context, labeler, live_server.url)
        tab = labeler_context.new_page()
        tab.goto("/projects/support/label/")
        banner = tab.inner_text("#guideline-banner")
        assert "version 2" in banner
        assert "double charges are billing" in banner
        assert tab.locator("#work-area").get_attribute("data-example-id") == str(later.pk)
        tab.keyboard.press("2")  # bug
        tab.wait_for_selector("#nothing-left")
    finally:
        labeler_context.close()
    annotation = Annotation.objects.get(example=later, rater=labeler)
    assert (annotation.label.name, annotation.guideline_version.number) == ("bug", 2)


def _current_case(page) -> int:
    return int(page.locator("#review-item").get_attribute("data-disagreement-id"))


def _wait_for_case(page, disagreement) -> None:
    page.wait_for_function(
        "wanted => document.querySelector('#review-item').dataset.disagreementId === wanted",
        arg=str(disagreement.pk),
    )


def test_the_panel_the_address_and_the_keys_stay_on_the_same_case(page, login, project, sme, make_labelers):
    raters = make_labelers(3)
    cases = []
    for n in range(3):
        example = ExampleFactory(project=project, external_id=f"c-{n}", text=f"Case number {n}")
        for user, name in zip(raters, ["billing", "bug", "feature"], strict=True):
            _label(project, user, name)
        cases.append(Disagreement.objects.get(example=example))
    first, second, third = cases

    login(sme)
    page.goto(f"/projects/support/review/{first.pk}/")
    page.wait_for_selector("#resolve-form")
    page.keyboard.press("n")
    page.keyboard.type("a charge is billing")
    page.keyboard.press("Escape")
    page.keyboard.press("1")  # billing: the second case comes up with the "just resolved" box
    _wait_for_case(page, second)
    page.click("#add-last-worked-example")
    page.wait_for_selector("text=c-0 was added to the guideline draft")
    # Still the second case, undecided, and the address names it.
    assert _current_case(page) == second.pk
    assert page.url.endswith(f"/review/{second.pk}/")
    assert page.inner_text("#resolve-form h2") == "Decide"
    page.keyboard.press("2")  # bug: decides the case on screen, not the first one
    _wait_for_case(page, third)
    assert [(r.disagreement_id, r.label.name) for r in Resolution.objects.order_by("id")] == [
        (first.pk, "billing"),
        (second.pk, "bug"),
    ]
    # Back shows the second case as it is now (decided), not a snapshot still offering "Decide".
    page.go_back()
    _wait_for_case(page, second)
    assert page.url.endswith(f"/review/{second.pk}/")
    assert page.inner_text("#resolve-form h2").startswith("Revise the decision")
    page.go_forward()
    _wait_for_case(page, third)

    # X without a rationale: told to write one; nothing saved.
    page.keyboard.press("x")
    page.wait_for_selector("text=write why it is genuinely ambiguous")
    assert not Resolution.objects.filter(disagreement=third).exists()
    page.keyboard.press("n")
    page.keyboard.type("both readings hold")
    page.keyboard.press("Escape")
    page.keyboard.press("x")
    page.wait_for_selector("#exclude-confirm-form")
    assert "both readings hold" in page.inner_text("#exclude-confirm-form")
    page.keyboard.press("Escape")  # go back: the rationale is still there
    page.wait_for_selector("#resolve-form")
    assert page.input_value("#id_rationale") == "both readings hold"
    assert not Resolution.objects.filter(disagreement=third).exists()
    page.keyboard.press("x")
    page.wait_for_selector("#exclude-confirm-form")
    page.keyboard.press("Enter")
    page.wait_for_selector("#queue-done")
    excluded = Resolution.objects.get(disagreement=third)
    assert (excluded.verdict, excluded.rationale) == ("excluded", "both readings hold")
    assert page.url.endswith("/review/")  # no case on screen: the address names the queue
    assert page.csp_errors == []
