"""People and data pages in a real browser: a manager invites someone, who opens the emailed link,
makes an account and lands in the project; the audit log shows it. An SME searches the example
browser (a wildcard is a literal), opens an example and reads its timeline; a page past the end
says so."""

import re
import uuid

import pytest
from django.core import mail

from labeling.services import annotations as labeling
from projects.models import Role
from tests.e2e.conftest import log_in
from tests.factories import ExampleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_invitation_from_settings_to_a_new_member(browser, live_server, page, login, project, manager):
    login(manager)
    page.goto(f"/projects/{project.slug}/settings/")
    page.fill("#invite-form input[name=email]", "newbie@example.org")
    page.select_option("#invite-form select[name=role]", "sme")
    page.click("#invite-form button[type=submit]")
    page.wait_for_selector("text=Invitation sent to newbie@example.org")
    assert "newbie@example.org" in page.inner_text("#invitations")
    link = re.search(r"https?://[^/\s]+(/invitations/\S+/)", mail.outbox[-1].body).group(1)

    newcomer = browser.new_context(base_url=live_server.url).new_page()
    newcomer.goto(link)
    assert "Join Support tickets" in newcomer.inner_text("#invitation")
    newcomer.fill("input[name=username]", "newbie")
    newcomer.fill("input[name=password]", "a-long-passphrase-42")
    newcomer.fill("input[name=password_again]", "a-long-passphrase-42")
    newcomer.click("#invitation button[type=submit]")
    newcomer.wait_for_selector("text=Welcome to Support tickets: you are subject-matter expert.")
    assert project.memberships.get(user__username="newbie").role == Role.SME
    newcomer.goto(link)  # the link worked once
    assert "already been used" in newcomer.inner_text("#invitation")
    newcomer.context.close()

    page.goto(f"/projects/{project.slug}/audit/")
    log = page.inner_text("#audit-log")
    assert "Invitation sent" in log
    assert "Invitation accepted" in log
    page.select_option("select[name=action]", "invitation_accepted")
    page.click("form[aria-label='Filter the audit log'] button")
    page.wait_for_url(re.compile(r"action=invitation_accepted"))
    assert "Invitation sent" not in page.inner_text("#audit-log")


def test_sme_finds_an_example_and_reads_its_timeline(browser, live_server, page, login, project, sme, raters):
    ExampleFactory(project=project, external_id="T-10010", text="Refund 100% of my order please")
    ExampleFactory(project=project, external_id="T-10011", text="Nothing special here")
    for rater, name in zip(raters, ("billing", "billing", "bug"), strict=True):
        assignment = labeling.assignment_next(project=project, user=rater)
        labeling.annotation_submit(
            project=project,
            user=rater,
            example_id=assignment.example_id,
            label_id=project.labels.get(name=name).pk,
            client_token=uuid.uuid4(),
        )
    login(sme)
    page.goto(f"/projects/{project.slug}/")
    page.click(f"a[href='/projects/{project.slug}/examples/']")
    page.fill("input[name=q]", "%")
    page.click("#example-filters button[type=submit]")
    page.wait_for_url(re.compile(r"q=%25"))
    listed = page.inner_text("#example-list")
    assert "T-10010" in listed
    assert "T-10011" not in listed
    page.fill("input[name=q]", "T-10010")
    page.click("#example-filters button[type=submit]")
    page.click("#example-list >> text=T-10010")
    page.wait_for_selector("#timeline")
    timeline = page.inner_text("#timeline")
    for words in ("rater0", "rater1", "rater2", "labeled: billing", "labeled: bug"):
        assert words in timeline
    page.fill("#tags input[name=tag]", "tricky")
    page.click("#tags button:has-text('Add')")
    page.wait_for_selector("#tags .tag:has-text('tricky')")
    page.goto(f"/projects/{project.slug}/examples/?tag=tricky&page=9")
    assert "There is only 1 page of examples for this search; showing page 1." in page.inner_text(
        "#page-message"
    )
    assert "T-10010" in page.inner_text("#example-list")


def test_a_labeler_sees_only_their_part(browser, live_server, page, project, raters):
    example = ExampleFactory(project=project, external_id="T-1", text="Where is my parcel")
    for rater, name in zip(raters, ("billing", "other", "bug"), strict=True):
        assignment = labeling.assignment_next(project=project, user=rater)
        labeling.annotation_submit(
            project=project,
            user=rater,
            example_id=assignment.example_id,
            label_id=project.labels.get(name=name).pk,
            client_token=uuid.uuid4(),
        )
    log_in(page.context, raters[1], live_server.url)
    page.goto(f"/projects/{project.slug}/examples/{example.pk}/")
    timeline = page.inner_text("#timeline")
    assert "labeled: other" in timeline
    for word in ("billing", "bug", "rater0", "rater2", "queued"):
        assert word not in page.content()
