"""Who may call which /api/v1/ endpoint, taken from the URL configuration so no endpoint is missed.

Every pattern under api/v1/ is filled with real ids of `project` and called by each kind of
caller, by token and by browser session. Outsiders (members of another project only) get 404 for
everything in `project`, anonymous callers 401, members with the wrong role 403. Responses to
members never contain anything of the other project.
"""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.parsers import MultiPartParser

from labeling.models import Annotation

from .conftest import OTHER_MARKER

CALLERS = ("anonymous", "labeler", "sme", "manager", "outsider")
ALL = {"anonymous": 401, "labeler": 200, "sme": 200, "manager": 200, "outsider": 404}
REVIEWERS = {**ALL, "labeler": 403}
MANAGERS = {**ALL, "labeler": 403, "sme": 403}

# (URL name, method) -> expected status per caller. A new endpoint fails the test until it is added.
LABELERS = {**ALL, "sme": 403, "manager": 403}

EXPECTED = {
    ("api:projects", "GET"): {**ALL, "outsider": 200},
    # Creating projects: CONCORD_PROJECT_CREATORS is "managers"; an empty body names no project.
    ("api:projects", "POST"): {**ALL, "labeler": 403, "sme": 403, "manager": 400, "outsider": 400},
    ("api:project", "GET"): ALL,
    ("api:project", "PATCH"): MANAGERS,
    ("api:project_labels", "GET"): ALL,
    ("api:project_labels", "POST"): {**MANAGERS, "manager": 201},
    ("api:project_label", "PATCH"): MANAGERS,
    # The label is used by annotations: the allowed role is told to rename it instead.
    ("api:project_label", "DELETE"): {**MANAGERS, "manager": 409},
    ("api:project_members", "GET"): MANAGERS,
    ("api:project_members", "POST"): MANAGERS,  # an existing member: a role change, 200
    ("api:project_member", "PATCH"): MANAGERS,
    ("api:project_invitations", "GET"): MANAGERS,
    ("api:project_invitations", "POST"): {**MANAGERS, "manager": 201},
    # Not under a project: any signed-in account may try a token; this one is no invitation's.
    ("api:invitation_accept", "POST"): {**ALL, "labeler": 400, "sme": 400, "manager": 400, "outsider": 400},
    # The manager's own membership: a project keeps at least one manager.
    ("api:project_member", "DELETE"): {**MANAGERS, "manager": 400},
    ("api:project_guideline_draft", "GET"): REVIEWERS,
    ("api:project_guideline_draft", "PUT"): REVIEWERS,
    ("api:project_guideline_versions", "POST"): {**MANAGERS, "manager": 201},
    ("api:project_relabel", "POST"): {**MANAGERS, "manager": 201},
    # Labelers only; the fixtures leave nothing to label, nothing to undo, and no reason to skip.
    ("api:project_assignment_next", "POST"): {**LABELERS, "labeler": 204},
    ("api:project_annotation_undo", "POST"): {**LABELERS, "labeler": 409},
    ("api:project_assignment_skip", "POST"): {**LABELERS, "labeler": 400},
    ("api:project_annotations", "POST"): {**LABELERS, "labeler": 400},
    ("api:project_examples", "GET"): REVIEWERS,
    ("api:project_example", "GET"): REVIEWERS,
    # An example's image: every member sees the project's examples on the labeling page.
    ("api:project_example_media", "GET"): ALL,
    ("api:project_examples_import", "POST"): {**MANAGERS, "manager": 202},
    # Queued whatever the file holds: the job reports the rows' problems when it runs.
    ("api:project_annotations_import", "POST"): {**MANAGERS, "manager": 202},
    ("api:project_import", "GET"): MANAGERS,
    ("api:project_annotations", "GET"): ALL,
    ("api:project_agreement", "GET"): REVIEWERS,
    ("api:project_guideline_versions", "GET"): ALL,
    ("api:project_guideline_version", "GET"): ALL,
    ("api:project_guideline_version_diff", "GET"): ALL,
    ("api:project_disagreements", "GET"): REVIEWERS,
    ("api:project_disagreement", "GET"): REVIEWERS,
    # Called with an empty JSON object, which has no verdict: allowed roles get the 400.
    ("api:project_disagreement_resolve", "POST"): {**REVIEWERS, "sme": 400, "manager": 400},
    ("api:project_releases", "GET"): REVIEWERS,
    # An empty JSON object has no tag or policy (both optional): a release with the defaults.
    ("api:project_releases", "POST"): {**REVIEWERS, "sme": 202, "manager": 202},
    ("api:project_release_diff", "GET"): REVIEWERS,
    ("api:project_release", "GET"): REVIEWERS,
    ("api:project_release_download", "GET"): REVIEWERS,
    # Gold and models (issue 14): an upload of any file is queued (the job reports its rows);
    # predictions need a model name, so the empty call is a 400.
    ("api:project_gold_import", "POST"): {**MANAGERS, "manager": 202},
    ("api:project_gold_sample", "POST"): {**MANAGERS, "manager": 201},  # {} draws 100 (all 4 here)
    ("api:project_predictions_import", "POST"): {**MANAGERS, "manager": 400},
    ("api:project_models", "GET"): REVIEWERS,
    ("api:project_model_report", "GET"): REVIEWERS,
    ("api:project_label_issues", "POST"): {**MANAGERS, "manager": 201},
    ("api:project_tags_bulk", "POST"): {**REVIEWERS, "sme": 400, "manager": 400},  # no tag, no ids
}

# (URL name, parameter) -> the value taken from the test data; `slug` is always the project's.
PARAMETERS = {
    ("api:project_example", "id"): lambda data: data.examples[0].pk,
    ("api:project_example_media", "id"): lambda data: _media_example(data).pk,
    ("api:project_label", "id"): lambda data: data.project.labels.first().pk,
    ("api:project_member", "id"): lambda data: data.project.memberships.get(role="manager").pk,
    ("api:project_assignment_skip", "id"): lambda data: 1,
    ("api:project_import", "id"): lambda data: data.import_batch.pk,
    ("api:project_guideline_version", "number"): lambda data: data.guideline.number,
    ("api:project_disagreement", "id"): lambda data: data.project.disagreements.get().pk,
    ("api:project_disagreement_resolve", "id"): lambda data: data.project.disagreements.get().pk,
    ("api:project_release", "tag"): lambda data: "v1",
    ("api:project_release_download", "tag"): lambda data: "v1",
    ("api:project_release_download", "file_format"): lambda data: "jsonl",
    ("api:project_model_report", "id"): lambda data: _model(data).pk,
}


def _media_example(data):
    from projects.models import Example
    from tests.media_files import image_bytes, stored_media_example

    existing = Example.objects.filter(project=data.project, external_id="matrix-media").first()
    if existing is not None:
        return existing
    return stored_media_example(
        data.project,
        image_bytes("PNG"),
        "image/png",
        name="matrix.png",
        external_id="matrix-media",
        annotation_count=data.project.overlap,  # complete: the labeler's next call still has nothing
    )


def _model(data):
    from projects.models import PredictionSet

    return PredictionSet.objects.get_or_create(project=data.project, model_name="matrix", file_sha256="0")[0]


# URL name -> the query string an endpoint needs to answer 200.
QUERIES = {
    "api:project_guideline_version_diff": lambda data: {
        "a": data.guideline.number,
        "b": data.guideline.number,
    },
    "api:project_release_diff": lambda data: {"old": "v1", "new": "v1"},
}

# (URL name, method) -> the JSON body sent; other writes send an empty object.
BODIES = {
    ("api:project", "PATCH"): {"lease_minutes": 20},
    ("api:project_labels", "POST"): {"name": "matrix"},
    ("api:project_label", "PATCH"): {"description": "Changed by the matrix."},
    ("api:project_members", "POST"): {"username": "second", "role": "labeler"},
    ("api:project_member", "PATCH"): {"role": "manager"},
    ("api:project_invitations", "POST"): {"email": "matrix@example.org", "role": "labeler"},
    ("api:invitation_accept", "POST"): {"token": "not-a-token"},
    ("api:project_guideline_draft", "PUT"): {"body": "# Guideline\n\nChanged by the matrix."},
    ("api:project_guideline_versions", "POST"): {"changelog": "Matrix."},
    ("api:project_relabel", "POST"): {"scope": "disagreements"},
}

PARAMETER_RE = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern):
            yield route, f"{namespace}{entry.name}", entry.callback


def api_endpoints():
    """(route, URL name, methods, view class) for every pattern under api/v1/."""
    endpoints = []
    for route, name, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/"):
            continue
        view_class = callback.cls
        methods = sorted(
            method.upper()
            for method in view_class.http_method_names
            if method not in ("options", "head") and hasattr(view_class, method)
        )
        endpoints.append((route, name, methods, view_class))
    return endpoints


def fill(route: str, name: str, data) -> str:
    def value(match):
        parameter = match.group("name")
        if parameter == "slug":
            return data.project.slug
        if (name, parameter) not in PARAMETERS:
            pytest.fail(f"{route}: no test value for parameter {parameter!r}; add it to PARAMETERS")
        return str(PARAMETERS[(name, parameter)](data))

    return "/" + PARAMETER_RE.sub(value, route)


def call(client, method: str, url: str, name: str, data, view_class):
    if method == "GET":
        query = QUERIES[name](data) if name in QUERIES else {}
        return client.get(url, query)
    if method == "POST" and MultiPartParser in view_class.parser_classes:
        upload = SimpleUploadedFile("rows.csv", b"id,text\nm-1,hello\n", content_type="text/csv")
        return client.post(url, {"file": upload})
    body = BODIES.get((name, method), {})
    return getattr(client, method.lower())(url, body, content_type="application/json")


def _body(response) -> str:
    """The text of a response, streamed (a release download, a media file) or not."""
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode()


def test_the_table_covers_every_api_endpoint_and_nothing_else():
    found = {(name, method) for _route, name, methods, _view in api_endpoints() for method in methods}
    assert found == set(EXPECTED), "update EXPECTED for the endpoints added or removed"


@pytest.mark.parametrize("auth", ["token", "session"])
def test_access_matrix(api_data, api_disagreements, api_releases, api_clients, auth, labeler):
    # The labeler's votes came in by import: undo has nothing to take back (409), and the open
    # disagreement stays for the endpoints called after it.
    Annotation.objects.filter(rater=labeler).update(source=Annotation.Source.IMPORT)
    clients = api_clients(auth)
    failures = []
    for route, name, methods, view_class in api_endpoints():
        url = fill(route, name, api_data)
        for method in methods:
            for caller in CALLERS:
                response = call(clients[caller], method, url, name, api_data, view_class)
                expected = EXPECTED[(name, method)][caller]
                if response.status_code != expected:
                    failures.append(f"{caller} {method} {url}: {response.status_code}, expected {expected}")
                    continue
                if caller == "anonymous":
                    assert response["WWW-Authenticate"].startswith("Bearer"), url
                if caller != "outsider" and response.status_code < 300:
                    assert OTHER_MARKER not in _body(response), f"{caller} {url} leaks"
                if caller == "outsider" and response.status_code == 404:
                    assert "support" not in response.content.decode().lower()
    assert not failures, "\n".join(failures)


def _list_items(client, url):
    body = client.get(url).json()
    return body["results"]


LIST_ENDPOINTS = ["labels/", "examples/", "annotations/", "guideline-versions/", "disagreements/"]


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_project_lists_never_contain_the_other_projects_rows(api_data, api_disagreements, api_clients, path):
    """A manager of both projects still gets only the project in the URL."""
    from projects.models import Membership, Role

    clients = api_clients("token")
    manager = clients["manager"]
    Membership.objects.create(
        user=api_data.project.memberships.get(role=Role.MANAGER).user,
        project=api_data.other_project,
        role=Role.MANAGER,
    )
    items = _list_items(manager, f"/api/v1/projects/{api_data.project.slug}/{path}")
    assert items
    assert OTHER_MARKER not in json.dumps(items)
    other_ids = {
        "labels/": set(api_data.other_project.labels.values_list("id", flat=True)),
        "examples/": {example.pk for example in api_data.other_examples},
        "annotations/": {a.pk for e in api_data.other_examples for a in e.annotations.all()},
        "guideline-versions/": set(),
        "disagreements/": {api_disagreements.other.pk},
    }[path]
    assert not other_ids & {item.get("id") for item in items}
    # and the other project's own list is reachable for that manager, so the check above means something
    other_items = _list_items(manager, f"/api/v1/projects/{api_data.other_project.slug}/{path}")
    assert OTHER_MARKER in json.dumps(other_items)


def test_labelers_see_only_their_own_annotations(api_data, api_clients, labeler):
    items = _list_items(api_clients("token")["labeler"], "/api/v1/projects/support/annotations/")
    assert len(items) == len(api_data.examples)
    assert {item["rater"] for item in items} == {labeler.username}


def test_outsiders_project_list_shows_only_their_projects(api_data, api_clients):
    items = _list_items(api_clients("token")["outsider"], "/api/v1/projects/")
    assert [(item["slug"], item["role"]) for item in items] == [("other", "manager")]


def test_unknown_projects_and_ids_are_404_for_members(api_data, api_clients):
    manager = api_clients("token")["manager"]
    assert manager.get("/api/v1/projects/nope/").status_code == 404
    other_example = api_data.other_examples[0].pk
    assert manager.get(f"/api/v1/projects/support/examples/{other_example}/").status_code == 404
    other_batch = api_data.other_import_batch.pk
    assert manager.get(f"/api/v1/projects/support/imports/{other_batch}/").status_code == 404
    assert manager.get("/api/v1/projects/support/guideline-versions/99/").status_code == 404


def test_the_other_projects_release_is_404_through_this_project(api_data, api_releases, api_clients):
    """A release tag of another project names nothing here, not even for a manager of both."""
    from projects.models import Membership, Role

    Membership.objects.create(
        user=api_data.project.memberships.get(role=Role.MANAGER).user,
        project=api_data.other_project,
        role=Role.MANAGER,
    )
    manager = api_clients("token")["manager"]
    base = f"/api/v1/projects/{api_data.project.slug}/releases/"
    for url in (
        f"{base}{OTHER_MARKER}/",
        f"{base}{OTHER_MARKER}/download/jsonl/",
        f"{base}diff/?old=v1&new={OTHER_MARKER}",
    ):
        assert manager.get(url).status_code == 404, url
    other_base = f"/api/v1/projects/{api_data.other_project.slug}/releases/"
    assert manager.get(f"{other_base}{OTHER_MARKER}/").status_code == 200
