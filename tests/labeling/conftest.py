"""Fixtures for the labeling tests: examples in the shared `project`, and more labelers."""

import pytest
from django.core.cache import cache

from projects.models import Role
from tests.factories import ExampleFactory, MembershipFactory, UserFactory


@pytest.fixture
def examples(project):
    return [
        ExampleFactory(project=project, external_id=f"ex-{n}", text=f"Example text {n}") for n in range(6)
    ]


@pytest.fixture
def make_labeler(project):
    def make(username: str, *, in_project=None):
        user = UserFactory(username=username)
        MembershipFactory(user=user, project=in_project or project, role=Role.LABELER)
        return user

    return make


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The labeling page caches a project-wide count for a few seconds; tests start clean."""
    cache.clear()
    yield
    cache.clear()
