"""The OpenAPI schema and the docs page, and Schemathesis fuzzing every operation against the
schema as a manager, an SME and a labeler, with valid and invalid requests and every check:
no server error, valid requests accepted, invalid ones refused, every answer as documented."""

import copy
import uuid
from datetime import timedelta

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from labeling.services.annotations import assignment_next
from projects.models import GuidelineDraft, Label, PredictionSet, Project
from projects.services.invitations import invitation_token
from tests.factories import ExampleFactory
from tests.media_files import image_bytes, stored_media_example

from .conftest import token_client


def test_the_schema_is_public_openapi_3_and_documents_token_auth(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from /account/tokens/.",
    }
    assert "/api/v1/projects/{slug}/annotations/" in schema["paths"]
    ordering = next(
        p
        for p in schema["paths"]["/api/v1/projects/{slug}/examples/"]["get"]["parameters"]
        if p["name"] == "ordering"
    )
    assert ordering["schema"]["enum"] == ["id", "-id"]


# Writes that take no body: the lease is the caller's own, so there is nothing to send.
BODILESS_WRITES = {
    ("post", "/api/v1/projects/{slug}/assignments/next/"),
    ("post", "/api/v1/projects/{slug}/annotations/undo/"),
}


def test_every_write_documents_its_request_and_response_bodies(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    writes = [
        (method, path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "put", "patch", "delete")
    ]
    assert len(writes) >= 19
    for method, path, operation in writes:
        if method != "delete" and (method, path) not in BODILESS_WRITES:
            body = operation.get("requestBody", {}).get("content", {})
            assert body, f"{method} {path}: no request body"
            assert all("$ref" in media["schema"] for media in body.values()), f"{method} {path}"
        answers = [code for code in operation["responses"] if code.startswith("2")]
        assert answers, f"{method} {path}: no success answer"
        for code in answers:
            assert code == "204" or operation["responses"][code].get("content"), f"{method} {path} {code}"


def test_the_docs_page_loads_only_our_own_assets_under_the_strict_csp(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    page = response.content.decode()
    assert "<style" not in page
    assert "<script>" not in page  # every script has a src on our origin
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


@pytest.fixture
def wsgi_app(api_data):
    """Django's real WSGI handler, inside the test's transaction: like django.test.Client, stop
    request signals from closing the connection that holds the transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app):
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)


@pytest.fixture
def path_values(api_data, api_disagreements, api_releases, labeler, sme):
    """Path parameters that point at real rows of the project, so operations get past the 404;
    a fresh example leased to the labeler, and a label and a member a manager may delete."""
    project = api_data.project
    ExampleFactory(project=project, external_id="to-label")
    lease = assignment_next(project=project, user=labeler)
    spare = Label.objects.create(project=project, name="spare", shortcut_key="9")
    GuidelineDraft.objects.create(project=project, body="A draft that differs from version 1.")
    return {
        "tag": api_releases.release.tag,
        "slug": project.slug,
        "/examples/{id}/": api_data.examples[0].pk,
        ("GET", "/examples/{id}/media/"): _media_example(project).pk,
        "/imports/{id}/": api_data.import_batch.pk,
        "/models/{id}/": PredictionSet.objects.create(
            project=project, model_name="schema", file_sha256="0"
        ).pk,
        "/disagreements/{id}/": api_disagreements.open.pk,
        "/assignments/{id}/": lease.pk,
        # DELETE takes away the spare label and the SME; PATCH changes what stays.
        ("DELETE", "/labels/{id}/"): spare.pk,
        ("PATCH", "/labels/{id}/"): project.labels.get(name="other").pk,
        ("DELETE", "/members/{id}/"): project.memberships.get(user=sme).pk,
        ("PATCH", "/members/{id}/"): project.memberships.get(user__username="second").pk,
        "number": api_data.guideline.number,
        "label": project.labels.first().name,
        "assignment": lease.pk,
        "member": "second",
    }


def _media_example(project):
    return stored_media_example(
        project, image_bytes("PNG"), "image/png", name="schema.png", external_id="schema-media"
    )


def _aim(case, values) -> None:
    """Point generated requests at real rows, and past the business rules no schema can state
    (a label must be one of the project's; split ratios sum to 1; a stratify field must be a
    metadata field): the schema documents those 400s, and the fuzzing is then about everything
    else. A component generated invalid is left as it is, and a body is replaced only when it
    changes (Schemathesis re-judges a replaced body)."""
    negated = _negated(case)
    if "path" not in negated:
        _aim_path(case, values)
    if "query" not in negated:
        _aim_query(case, values)
    if not case.meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return
    body = copy.deepcopy(case.body)  # generated cases may share one body object
    if case.path.endswith("/resolve/") and body.get("verdict") == "label":
        # The project here is single-label: a gold set (multi-label projects) and gold spans
        # (span projects) are refused by name.
        body.pop("labels", None)
        body.pop("spans", None)
        body["label"] = values["label"]
    policy = body.get("policy") if case.path.endswith("/releases/") else None
    if isinstance(policy, dict):
        if "ratios" in policy:
            policy["ratios"] = [0.8, 0.1, 0.1]
        if policy.get("stratify_field"):
            policy["stratify_field"] = "channel"
    _aim_writes(case, body, values)
    if body != case.body:
        case.body = body


def _fresh_invitation_token(slug: str) -> str:
    project = Project.objects.get(slug=slug)
    invitation = project.invitations.create(
        email=f"{uuid.uuid4().hex[:12]}@example.org",
        role="labeler",
        nonce=uuid.uuid4().hex,
        expires_at=timezone.now() + timedelta(days=1),
    )
    return invitation_token(invitation)


def _unique(text: str) -> str:
    return f"{text.strip()[:80]}-{uuid.uuid4().hex[:8]}"


def _aim_writes(case, body: dict, values) -> None:
    """Valid writes that would collide with what exists (a slug or label name taken, a shortcut
    key in use, someone who is not a member yet) are given fresh names or real members: the
    collisions are 400s the bad-input tests check."""
    path = case.path
    if path == "/api/v1/invitations/accept/" and "token" in body:
        # A token no invitation has is a documented 400: accept a fresh invitation instead.
        body["token"] = _fresh_invitation_token(values["slug"])
    if path == "/api/v1/projects/":
        if "slug" in body:
            body["slug"] = _unique(body["slug"])
        for label in body.get("labels") or []:
            if isinstance(label, dict):
                label.pop("key", None)
                if "name" in label:
                    label["name"] = _unique(label["name"])
    if path.endswith(("/labels/", "/labels/{id}/")):
        body.pop("key", None)
        if "name" in body:
            body["name"] = _unique(body["name"])
    if path.endswith("/members/") and "username" in body:
        body["username"] = values["member"]
    if path.endswith("/annotations/"):
        body["assignment"] = values["assignment"]
        # The project here is single-label: a label set (multi-label projects) or spans (span
        # projects) are refused by name.
        body.pop("labels", None)
        body.pop("spans", None)
        body["label"] = values["label"]
    if path.endswith("/guideline/draft/") and isinstance(body.get("body"), str):
        body["body"] += f"\nRevision {uuid.uuid4().hex}"  # something new to publish
    if path.endswith("/relabel/") and body.get("scope") == "sample" and "n" not in body:
        body["n"] = 1
    if path.endswith("/tags/bulk/"):
        # Either ids or filters (a rule across two fields); the ids must be the project's.
        body.pop("filter", None)
        body["example_ids"] = [values["/examples/{id}/"]]


def _negated(case) -> set[str]:
    """The parts of the request (path, query, header, body) generated invalid on purpose."""
    components = case.meta.components if case.meta is not None else {}
    return {str(location.value) for location, info in components.items() if info.mode.is_negative}


def _aim_path(case, values) -> None:
    if "slug" in case.path_parameters:
        case.path_parameters["slug"] = values["slug"]
    if "id" in case.path_parameters:
        # A key names a path, or a method and a path (DELETE and PATCH aim at different rows);
        # any other method (a 405 probe) takes the first row of its path.
        method = case.method.upper()
        keys = sorted(
            (key for key in values if isinstance(key, tuple | str) and _path_of(key) in case.path),
            key=lambda key: not (isinstance(key, tuple) and key[0] == method),
        )
        if keys:
            case.path_parameters["id"] = values[keys[0]]
    if "number" in case.path_parameters:
        case.path_parameters["number"] = values["number"]
    if "tag" in case.path_parameters:
        # file_format is left as generated: its enum holds only the formats a ready release has.
        case.path_parameters["tag"] = values["tag"]


def _path_of(key) -> str:
    if isinstance(key, tuple):
        return key[1]
    return key if key.startswith("/") else "\0"


def _aim_query(case, values) -> None:
    if case.path.endswith("/releases/diff/") and case.query:
        case.query.update({key: values["tag"] for key in ("old", "new") if key in case.query})
    # "An exclusion needs a rationale" is a rule across two fields, which the generated bodies
    # rarely meet; give blank ones a rationale so exclusions can succeed too.
    body = case.body if case.path.endswith("/resolve/") and isinstance(case.body, dict) else {}
    if body.get("verdict") == "exclude" and not str(body.get("rationale") or "").strip():
        body["rationale"] = "Both readings hold."
    if case.path.endswith("/guideline-versions/diff/") and case.query:
        # Version numbers play the part of ids here: aim them at the published version.
        case.query.update({key: values["number"] for key in ("a", "b") if key in case.query})


ACCEPTED = {*range(200, 400), 401, 403, 404, 409, 429}
LABELING_PATHS = ("/assignments/next/", "/assignments/{id}/skip/", "/annotations/undo/")


def upload_acceptance(ctx, response, case) -> None:
    """positive_data_acceptance for an upload, whose contents no OpenAPI schema can describe (a
    schema-valid file may be a PNG): a 400 about the file alone is the documented answer."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code in ACCEPTED:
        return
    body = response.json() if response.status_code == 400 else None
    assert isinstance(body, dict), f"valid upload refused: {response.status_code}"
    assert set(body) == {"file"}, f"valid upload refused for more than its file: {body}"


SCALARS_AS_TEXT = ("became number", "became integer", "became boolean", "became null")


def upload_rejection(ctx, response, case) -> None:
    """negative_data_rejection for an upload: a form carries every field as text, so a field
    whose only fault is its type (a number where text is expected, `9e-46` as a model name)
    arrives as the same text a valid request would send; anything else must still be refused."""
    description = getattr(getattr(case.meta, "phase", None), "data", None)
    description = getattr(description, "description", "") or ""
    if "violates `type`" in description and description.endswith(tuple(f"{s})" for s in SCALARS_AS_TEXT)):
        return None
    return negative_data_rejection(ctx, response, case)


def _validate(case, headers):
    """Send the case with every check (the upload variant of the acceptance check for uploads);
    an Authorization header generated invalid stays, so the answer must be a 401."""
    upload = case.operation.path.endswith("/import/")
    return case.call_and_validate(
        headers=None if "header" in _negated(case) else headers,
        excluded_checks=[positive_data_acceptance, negative_data_rejection] if upload else None,
        additional_checks=[upload_acceptance, upload_rejection] if upload else None,
    )


# Schemathesis' own pytest plugin (schema.parametrize with a fixture) does not run on pytest 9,
# so each operation's Hypothesis strategies are driven here: valid requests (which must be
# accepted, or refused only as documented) and invalid ones (which must be refused), every
# answer checked with all of Schemathesis' checks.
# The manager may call almost everything, so the manager's run carries most of the fuzzing; the
# other roles are mostly refused (403) and need fewer cases to show it.
EXAMPLES = {
    "manager": {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 25},
    "labeler": {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10},
    "sme": {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8},
}


@pytest.mark.parametrize("role", ["manager", "sme", "labeler"])
def test_every_operation_conforms_to_the_schema(request, api_schema, path_values, role):
    headers = {"Authorization": token_client(request.getfixturevalue(role)).defaults["HTTP_AUTHORIZATION"]}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 11

    succeeded, refused = set(), set()
    for operation in operations:
        for mode, examples in EXAMPLES[role].items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                _aim(case, path_values)
                response = _validate(case, headers)
                if response.status_code < 300:
                    succeeded.add(operation.label)
                if mode.is_negative and response.status_code in (400, 404, 413, 415):
                    refused.add(operation.label)

            check()
    # The generated requests reached real data, not only error answers: every operation succeeded
    # for the role that may call it (labeling is the labeler's; the rest a manager's).
    labeling = {
        operation.label
        for operation in operations
        if operation.path.endswith(LABELING_PATHS)
        or (operation.method.upper() == "POST" and operation.path.endswith("/annotations/"))
    }
    if role == "manager":
        assert succeeded == {operation.label for operation in operations} - labeling
        assert refused, "no invalid request was refused: was negative data generated?"
    if role == "labeler":
        assert labeling <= succeeded
        assert len(labeling) == 4


@pytest.mark.parametrize("role", ["manager", "sme", "labeler"])
def test_boundary_and_coverage_cases_conform_to_the_schema(request, api_schema, path_values, role):
    """Schemathesis' coverage cases: each parameter at and past its bounds, missing, duplicated,
    of the wrong type, and methods an endpoint does not take (405 with Allow)."""
    headers = {"Authorization": token_client(request.getfixturevalue(role)).defaults["HTTP_AUTHORIZATION"]}
    failures, count = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        cases = api_schema.iter_coverage_cases(
            operation,
            generation_modes=list(GenerationMode),
            generation_config=api_schema.config.generation_for(operation=operation, phase="coverage"),
        )
        for case in cases:
            count += 1
            _aim(case, path_values)
            try:
                _validate(case, headers)
            except FailureGroup as exc:  # collect them all: one run shows every non-conformance
                failures.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r:.200}\n{exc}")
    assert count > 100
    assert not failures, f"{len(failures)} of {count} cases failed:\n\n" + "\n\n".join(failures[:15])
