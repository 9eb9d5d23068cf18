"""The audit log: what the services record (who, what, on whom), the managers' page and its
filters, and the database refusing to change or delete a row (SQLite and PostgreSQL alike)."""

import uuid

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.utils import DatabaseError

from consistency.releases.services import release_create
from consistency.review import services as review
from core.models import AuditEntry
from core.services import api_token_create, api_token_revoke, audit_record
from labeling.models import Disagreement
from labeling.services import annotations as labeling
from projects.services import projects as project_services
from projects.services.guidelines import guideline_draft_save, guideline_publish
from tests.factories import ExampleFactory, UserFactory

pytestmark = pytest.mark.django_db


def _label(project, user, name):
    assignment = labeling.assignment_next(project=project, user=user)
    labeling.annotation_submit(
        project=project,
        user=user,
        example_id=assignment.example_id,
        label_id=project.labels.get(name=name).pk,
        client_token=uuid.uuid4(),
    )


def _actions(project):
    return list(
        AuditEntry.objects.filter(project_id=project.pk)
        .order_by("id")
        .values_list("action", "actor_name", "target")
    )


def test_every_audited_service_writes_one_row_with_who_and_on_what(project, manager, sme, raters):
    UserFactory(username="newcomer")
    project_services.membership_save(project=project, actor=None, username="newcomer", role="labeler")
    project_services.membership_save(project=project, actor=manager, username="newcomer", role="sme")
    project_services.membership_save(
        project=project, actor=manager, username="newcomer", role="sme"
    )  # no change
    membership = project.memberships.get(user__username="newcomer")
    project_services.membership_remove(project=project, membership_id=membership.pk, actor=manager)
    project_services.project_update(project=project, user=manager, overlap=3, majority_threshold=0.75)
    project_services.project_update(project=project, user=manager, description="same rules")  # not audited
    guideline_draft_save(project=project, user=manager, body="# v1")
    guideline_publish(project=project, user=manager, changelog="First")
    example = ExampleFactory(project=project, external_id="T-1")
    for rater, name in zip(raters, ("billing", "bug", "feature"), strict=True):
        _label(project, rater, name)
    disagreement = Disagreement.objects.get(example=example)
    resolution = review.review_resolve(
        project=project,
        user=sme,
        disagreement_id=disagreement.pk,
        verdict="gold",
        label_id=project.labels.get(name="bug").pk,
        rationale="It crashes.",
    )
    review.resolution_revise(
        project=project,
        user=sme,
        resolution_id=resolution.pk,
        verdict="excluded",
        rationale="Really ambiguous.",
    )
    release_create(project=project, user=manager, tag="r1", run_in_background=False)
    assert _actions(project) == [
        ("role_changed", "", "newcomer"),  # an operator's command
        ("role_changed", "manager", "newcomer"),
        ("member_removed", "manager", "newcomer"),
        ("settings_changed", "manager", "majority_threshold"),
        ("guideline_published", "manager", "version 1"),
        ("gold_set", "sme", "T-1"),
        ("gold_revised", "sme", "T-1"),
        ("release_created", "manager", "r1"),
    ]
    rows = AuditEntry.objects.filter(project_id=project.pk).order_by("id")
    assert rows[0].details == {"from": "", "to": "labeler"}
    assert rows[1].details == {"from": "labeler", "to": "sme"}
    assert rows[3].details == {"majority_threshold": {"from": 0.66, "to": 0.75}}
    assert rows[6].details["verdict"] == "excluded"


def test_relabel_requests_and_tokens_are_recorded(project, manager, raters):
    guideline_draft_save(project=project, user=manager, body="# v1")
    guideline_publish(project=project, user=manager, changelog="First")
    ExampleFactory(project=project)
    for rater in raters:
        _label(project, rater, "bug")
    guideline_draft_save(project=project, user=manager, body="# v2")
    guideline_publish(project=project, user=manager, changelog="Second")
    review.relabel_request(project=project, user=manager, scope="older")
    row = AuditEntry.objects.get(project_id=project.pk, action="relabel_requested")
    assert (row.actor_name, row.target, row.details["scope"], row.details["guideline_version"]) == (
        "manager",
        "1 examples",
        "older",
        2,
    )
    token, _key = api_token_create(user=raters[0], name="nightly")
    api_token_revoke(user=raters[0], token_id=token.pk)
    api_token_revoke(user=raters[0], token_id=token.pk)  # idempotent: recorded once
    tokens = AuditEntry.objects.filter(actor_id=raters[0].pk).order_by("id")
    assert [(t.action, t.project_id) for t in tokens] == [("token_created", None), ("token_revoked", None)]


def test_a_failed_action_leaves_no_audit_row(project, manager):
    with pytest.raises(Exception):  # noqa: B017  (the empty draft refuses to publish)
        guideline_publish(project=project, user=manager, changelog="Nothing to publish")
    assert not AuditEntry.objects.filter(project_id=project.pk).exists()


def _refused(statement, params):
    refused = (IntegrityError, InternalError, DatabaseError)
    with pytest.raises(refused) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
    assert "append-only" in str(caught.value)


def test_the_database_refuses_to_change_or_delete_an_audit_row(project, manager):
    entry = audit_record(action="role_changed", actor=manager, project=project, target="someone")
    _refused("UPDATE core_auditentry SET target = %s WHERE id = %s", ["nobody", entry.pk])
    _refused("UPDATE core_auditentry SET created_at = created_at WHERE id = %s", [entry.pk])
    _refused("DELETE FROM core_auditentry WHERE id = %s", [entry.pk])
    _refused("DELETE FROM core_auditentry WHERE 1 = %s", [1])
    with pytest.raises((IntegrityError, InternalError, DatabaseError)), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.target == "someone"
    # Deleting the project or the person leaves the row: it names them by id and name, no link.
    manager.memberships.all().delete()
    project.delete()
    manager.delete()
    entry.refresh_from_db()
    assert (entry.project_slug, entry.actor_name) == ("support", "manager")


def test_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError):
        audit_record(action="made_up")


def test_manager_page_lists_and_filters(manager_client, project, manager, sme, raters, other_project):
    project_services.membership_save(project=project, actor=manager, username="sme", role="labeler")
    guideline_draft_save(project=project, user=manager, body="# v1")
    guideline_publish(project=project, user=manager, changelog="First <b>version</b>")
    api_token_create(user=raters[0], name="rater-script")
    stranger = UserFactory(username="stranger")
    api_token_create(user=stranger, name="stranger-script")  # not a member: not shown
    audit_record(action="role_changed", project=other_project, target="elsewhere")
    url = f"/projects/{project.slug}/audit/"
    page = manager_client.get(url).content.decode()
    assert "Guideline published" in page
    assert "version 1" in page
    assert "rater-script" in page
    assert "First &lt;b&gt;version&lt;/b&gt;" in page
    assert "stranger-script" not in page
    assert "elsewhere" not in page
    filtered = manager_client.get(url, {"action": "guideline_published"}).content.decode()
    assert "version 1" in filtered
    assert "Role changed</td>" not in filtered
    by_actor = manager_client.get(url, {"actor": "rater0"}).content.decode()
    assert "rater-script" in by_actor
    assert "version 1" not in by_actor
    bad = manager_client.get(url, {"action": "role_changed' OR 1=1"})
    assert bad.status_code == 400
    assert "Unknown action" in bad.content.decode()
    beyond = manager_client.get(url, {"page": "999"})
    assert beyond.status_code == 200
    assert "There is only 1 page; showing page 1." in beyond.content.decode()


def test_only_managers_see_the_audit_log(sme_client, labeler_client, outsider_client, client, project):
    url = f"/projects/{project.slug}/audit/"
    assert sme_client.get(url).status_code == 403
    assert labeler_client.get(url).status_code == 403
    assert outsider_client.get(url).status_code == 404
    assert client.get(url).status_code == 302
