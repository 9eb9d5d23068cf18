"""The import page in a real browser: while a job runs, its status card and its row under "Recent
imports" both follow it; the row no longer stays "Queued" after the import has finished."""

import pytest

from projects.models import ImportBatch
from projects.services.imports import import_batch_create, import_batch_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_recent_imports_follow_a_job_to_its_end(page, login, project, manager, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    from playwright.sync_api import expect  # the browser fixture has checked that Playwright is there

    path = tmp_path / "tickets.csv"
    path.write_text("id,text\nt1,hello\nt2,world\n", encoding="utf-8")
    batch = import_batch_create(
        project=project,
        user=manager,
        uploaded_file_or_path=path,
        source_name=path.name,
        run_in_background=False,
    )
    login(manager)
    page.goto(f"/projects/support/import/{batch.pk}/")
    row = page.locator(f"#import-{batch.pk} .import-state")
    assert row.inner_text() == "Queued"
    assert "Queued: waiting for a worker" in page.inner_text("#import-status")

    assert import_batch_run(batch_id=batch.pk).status == ImportBatch.Status.SUCCEEDED  # the worker

    page.wait_for_selector("#import-status >> text=Imported 2 new examples")
    expect(row).to_have_text("Succeeded")  # waits for the table's own poll
    assert page.locator("#recent-imports[hx-trigger]").count() == 0  # polling stopped
    assert page.csp_errors == []
