"""Span projects on the project pages: created for spans, and whether spans may nest editable in
the settings while nothing is annotated, read-only (the posted value ignored) afterwards."""

import re

import pytest
from django.urls import reverse

from projects.models import Project
from tests.factories import AnnotationFactory, ExampleFactory

pytestmark = pytest.mark.django_db

SETTINGS = {"name": "Support", "description": "d", "overlap": 3, "lease_minutes": 10}


def test_a_span_project_is_created_from_the_page(manager_client, project):
    response = manager_client.post(
        reverse("projects:create"),
        {"name": "People", "slug": "people", "overlap": 3, "task_type": "spans", "spans_may_nest": "on"},
    )
    assert response.status_code == 302
    created = Project.objects.get(slug="people")
    assert (created.task_type, created.spans_may_nest) == ("spans", True)


def test_nesting_is_a_setting_until_the_project_has_annotations(manager_client, project):
    url = reverse("projects:settings", args=[project.slug])
    page = manager_client.get(url).content.decode()
    assert '<option value="spans"' in page
    assert not re.search(r'<input type="checkbox" name="spans_may_nest"[^>]*\bdisabled\b', page)
    response = manager_client.post(url, {**SETTINGS, "task_type": "spans", "spans_may_nest": "on"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.task_type, project.spans_may_nest) == ("spans", True)

    AnnotationFactory(example=ExampleFactory(project=project), label=None, spans=[])
    page = manager_client.get(url).content.decode()
    assert re.search(r'<input type="checkbox" name="spans_may_nest"[^>]*\bdisabled\b', page)
    # A posted value is ignored (the field is read-only); the other settings still save.
    response = manager_client.post(url, {**SETTINGS, "task_type": "spans", "lease_minutes": 12})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.spans_may_nest, project.lease_minutes) == (True, 12)
