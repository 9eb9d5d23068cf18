"""The interactive API docs render in a real browser under the strict CSP, with no violation."""

import pytest

from tests.e2e.conftest import browser, login, page  # noqa: F401  (the browser fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_lists_the_endpoints_without_csp_violations(page, login, project, manager):  # noqa: F811
    login(manager)
    page.goto("/api/docs/")
    page.wait_for_selector("text=/api/v1/projects/{slug}/annotations/")
    assert page.locator(".opblock").count() >= 11
    assert page.csp_errors == []
