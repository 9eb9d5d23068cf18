"""OpenAPI description of our token authentication (drf-spectacular extension, loaded in apps.py)."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.api.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from /account/tokens/."}


class ClosedSerializerScheme(OpenApiSerializerExtension):
    """Request bodies of core.api.ClosedSerializer refuse unknown fields: say so."""

    target_class = "core.api.ClosedSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


ERROR_RESPONSES = {
    "400": ("Invalid input: field names map to lists of messages, or `detail` says what is wrong.", False),
    "401": ("Not authenticated: send a token (`Authorization: Bearer ...`) or a session cookie.", True),
    "403": ("You are a member of the project, but your role does not allow this.", True),
    "404": ("Not found (or not a project you are a member of), or no such page.", True),
    "429": ("Too many requests: wait the seconds in Retry-After (see the README's rate limits).", True),
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next request.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _has_required_fields(schema: dict, schemas: dict) -> bool:
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return bool(schema.get("required")) or any(
        _has_required_fields(s, schemas) for s in schema.get("oneOf", [])
    )


BLANK_BRANCH = {"type": "string", "maxLength": 0}


def _one_blank_branch(schemas: dict) -> None:
    """drf-spectacular writes a blank-allowed text field with a pattern as `oneOf: [the pattern,
    maxLength 0]`; when the pattern admits "" too, "" matches both branches, which `oneOf` forbids,
    so the schema would call valid input invalid. Such a field is its pattern branch alone."""
    for component in schemas.values():
        for name, prop in (component.get("properties") or {}).items():
            branches = prop.get("oneOf") or []
            if len(branches) != 2 or BLANK_BRANCH not in branches:
                continue
            (text,) = [branch for branch in branches if branch != BLANK_BRANCH]
            pattern = text.get("pattern")
            if (
                text.get("type") == "string"
                and not text.get("minLength")
                and (pattern is None or re.search(pattern, ""))
            ):
                component["properties"][name] = {**{k: v for k, v in prop.items() if k != "oneOf"}, **text}


def add_error_responses(result, generator, request, public):
    """Post-processing hook: document the error answers every endpoint can give, so clients
    (and the schema conformance tests) know their shape."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    }
    schemas["ValidationError"] = {"type": "object", "additionalProperties": True}
    _one_blank_branch(schemas)
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            body = operation.get("requestBody")
            if body and any(
                _has_required_fields(media.get("schema", {}), schemas) for media in body["content"].values()
            ):
                body["required"] = True  # a body with required fields cannot be left out either
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "query" and schema.get("type") == "string" and "enum" not in schema:
                    schema.setdefault("minLength", 1)  # core.api.ClosedQueryMixin: empty is a 400
            responses = operation.setdefault("responses", {})
            for code, (description, detail_only) in ERROR_RESPONSES.items():
                has_input = "requestBody" in operation or any(
                    parameter.get("in") == "query" for parameter in operation.get("parameters", [])
                )
                if code == "400" and not has_input:
                    continue
                if code == "403" and not path.startswith("/api/v1/projects/{slug}/"):
                    continue
                schema = {"$ref": "#/components/schemas/" + ("Error" if detail_only else "ValidationError")}
                response = {"description": description, "content": {"application/json": {"schema": schema}}}
                if code == "429":
                    response["headers"] = RETRY_AFTER
                responses.setdefault(code, response)
    return result
