"""Guidelines: a draft is edited, published as version n+1, and published versions never change."""

import pytest
from django.db import IntegrityError, InternalError, transaction
from django.urls import reverse

from core.errors import ApplicationError
from core.markdown import render_markdown
from projects.models import GuidelineVersion
from projects.services.guidelines import MAX_GUIDELINE_CHARS, guideline_draft_save, guideline_publish

pytestmark = pytest.mark.django_db


def test_publishing_numbers_versions_and_keeps_each_body(project, manager):
    guideline_draft_save(project=project, user=manager, body="# v1")
    first = guideline_publish(project=project, user=manager, changelog="First")
    guideline_draft_save(project=project, user=manager, body="# v2")
    second = guideline_publish(project=project, user=manager, changelog="Clarify billing")
    assert (first.number, second.number) == (1, 2)
    assert GuidelineVersion.objects.get(pk=first.pk).body == "# v1"


def test_publish_refuses_an_empty_changelog_empty_draft_or_no_change(project, manager):
    with pytest.raises(ApplicationError, match="changelog"):
        guideline_publish(project=project, user=manager, changelog=" ")
    with pytest.raises(ApplicationError, match="empty"):
        guideline_publish(project=project, user=manager, changelog="x")
    guideline_draft_save(project=project, user=manager, body="text")
    guideline_publish(project=project, user=manager, changelog="x")
    with pytest.raises(ApplicationError, match="identical"):
        guideline_publish(project=project, user=manager, changelog="again")


def test_the_database_refuses_to_edit_a_published_version(project, manager):
    guideline_draft_save(project=project, user=manager, body="original")
    version = guideline_publish(project=project, user=manager, changelog="First")
    version.body = "rewritten history"
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        version.save()
    assert GuidelineVersion.objects.get(pk=version.pk).body == "original"


def test_guideline_markdown_is_sanitised(labeler_client, project, manager):
    guideline_draft_save(project=project, user=manager, body="**Bold** <script>alert(1)</script>")
    guideline_publish(project=project, user=manager, changelog="First")
    content = labeler_client.get(reverse("projects:guidelines", args=[project.slug])).content
    assert b"<strong>Bold</strong>" in content
    assert b"<script>alert" not in content


def test_a_guideline_of_unmatched_brackets_at_the_size_limit_renders(labeler_client, project, manager):
    """Python-Markdown's link parser rescanned the rest of the text at every "[": a guideline of
    200,000 of them took hours to render, on every member's guideline page."""
    guideline_draft_save(project=project, user=manager, body="[" * MAX_GUIDELINE_CHARS)
    guideline_publish(project=project, user=manager, changelog="Brackets")
    page = labeler_client.get(reverse("projects:guideline_version", args=[project.slug, 1]))
    assert page.status_code == 200
    assert "<p>" + "[" * MAX_GUIDELINE_CHARS + "</p>" in page.content.decode()


def test_markdown_keeps_formatting_and_shows_raw_html_as_text():
    html = render_markdown(
        "# Rules\n\n<b>raw</b> **bold** [ok](https://example.org) [bad](javascript:alert(1))\n\n"
        "| label | when |\n|---|---|\n| bug | it crashes |\n\n- a\n  - nested\n"
    )
    assert "<h1>Rules</h1>" in html
    assert "&lt;b&gt;raw&lt;/b&gt; <strong>bold</strong>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">ok</a>' in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")
    assert "<td>bug</td>" in html
    assert "<li>a\n<ul>\n<li>nested</li>" in html


def test_manager_publishes_from_the_page(manager_client, project):
    manager_client.post(reverse("projects:guideline", args=[project.slug]), {"body": "# Rules"})
    response = manager_client.post(
        reverse("projects:guideline_publish", args=[project.slug]), {"changelog": "First"}, follow=True
    )
    assert b"Version 1 published" in response.content
    assert project.guideline_versions.count() == 1


def test_sme_cannot_publish(sme_client, project):
    response = sme_client.post(reverse("projects:guideline_publish", args=[project.slug]), {"changelog": "x"})
    assert response.status_code == 403
