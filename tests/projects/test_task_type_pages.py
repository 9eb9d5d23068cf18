"""Choosing the task type on the project pages: at creation, in the settings while nothing is
annotated, and read-only (the posted value ignored) once the project has annotations."""

import re

import pytest
from django.urls import reverse

from projects.models import Project
from tests.factories import AnnotationFactory, ExampleFactory

pytestmark = pytest.mark.django_db

SETTINGS = {"name": "Support", "description": "d", "overlap": 3, "lease_minutes": 10}


def test_a_project_is_created_multi_label_from_the_page(manager_client, project):
    response = manager_client.post(
        reverse("projects:create"),
        {
            "name": "Topics",
            "slug": "topics",
            "overlap": 3,
            "task_type": "multi",
            "allow_empty_label_set": "on",
        },
    )
    assert response.status_code == 302
    created = Project.objects.get(slug="topics")
    assert (created.task_type, created.allow_empty_label_set) == ("multi", True)


def test_the_settings_change_the_task_type_until_the_project_has_annotations(manager_client, project):
    url = reverse("projects:settings", args=[project.slug])
    page = manager_client.get(url).content.decode()
    assert 'name="task_type"' in page
    assert "Fixed: the project has annotations." not in page
    assert not re.search(r'<select name="task_type"[^>]*\bdisabled\b', page)
    response = manager_client.post(url, {**SETTINGS, "task_type": "multi", "allow_empty_label_set": "on"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.task_type, project.allow_empty_label_set) == ("multi", True)

    project.task_type = "single"
    project.save()
    AnnotationFactory(example=ExampleFactory(project=project), label=project.labels.first())
    page = manager_client.get(url).content.decode()
    assert "Fixed: the project has annotations." in page
    assert re.search(r'<select name="task_type"[^>]*\bdisabled\b', page)
    # A posted task type is ignored (the field is read-only); the other settings still save.
    response = manager_client.post(url, {**SETTINGS, "task_type": "multi", "lease_minutes": 12})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.task_type, project.lease_minutes) == ("single", 12)
