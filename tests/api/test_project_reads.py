"""What members read: my projects with my role, one project's detail with its labels and the
guideline in force, and published guideline versions (a draft is never exposed)."""

from projects.models import GuidelineDraft
from tests.factories import GuidelineVersionFactory

from .conftest import token_client


def test_project_detail_has_labels_role_and_the_guideline_in_force(api_data, labeler):
    GuidelineVersionFactory(project=api_data.project, number=2, changelog="Clarified bugs.")
    body = token_client(labeler).get("/api/v1/projects/support/").json()
    assert body["slug"] == "support"
    assert body["role"] == "labeler"
    assert body["overlap"] == api_data.project.overlap
    assert [label["name"] for label in body["labels"]] == ["billing", "bug", "feature", "other"]
    assert body["guideline_in_force"]["number"] == 2
    assert body["guideline_in_force"]["changelog"] == "Clarified bugs."


def test_without_a_published_guideline_none_is_in_force(project, manager):
    assert token_client(manager).get("/api/v1/projects/support/").json()["guideline_in_force"] is None


def test_guideline_versions_are_published_ones_only_never_the_draft(api_data, labeler, manager):
    GuidelineVersionFactory(project=api_data.project, number=2, changelog="Second.", body="Version two.")
    GuidelineDraft.objects.create(project=api_data.project, body="DRAFT-NOT-PUBLISHED", updated_by=manager)
    api = token_client(labeler)
    listing = api.get("/api/v1/projects/support/guideline-versions/").json()
    assert [item["number"] for item in listing["results"]] == [2, 1]
    assert "body" not in listing["results"][0]
    detail = api.get("/api/v1/projects/support/guideline-versions/2/").json()
    assert detail["body"] == "Version two."
    for url in ("/api/v1/projects/support/", "/api/v1/projects/support/guideline-versions/"):
        assert "DRAFT-NOT-PUBLISHED" not in api.get(url).content.decode()
    assert api.get("/api/v1/projects/support/guideline-versions/3/").status_code == 404


def test_my_projects_list_every_membership_with_its_role(api_data, manager):
    from projects.models import Membership, Role

    Membership.objects.create(user=manager, project=api_data.other_project, role=Role.LABELER)
    items = token_client(manager).get("/api/v1/projects/").json()["results"]
    assert [(item["slug"], item["role"]) for item in items] == [("other", "labeler"), ("support", "manager")]
