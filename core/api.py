"""Shared REST API pieces: token authentication, the one project-role permission, the JSON
parser, pagination, allow-listed ordering and the mapping of domain errors to JSON responses."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import (
    authentication,
    exceptions,
    filters,
    mixins,
    pagination,
    parsers,
    serializers,
    status,
)

from core.errors import AccessDenied, ApplicationError, Conflict, NotFound
from core.services import api_token_authenticate


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>` with a key from the token page (core.models.ApiToken).

    Listed first in the settings, so its `authenticate_header` makes anonymous requests 401.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: use 'Bearer <token>'.")
        try:
            key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = api_token_authenticate(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return (token.user, token)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class ClosedQueryMixin:
    """An endpoint takes the query parameters its schema names and no others: its
    `query_serializer_class` (filters), and for lists the pagination and ordering parameters.
    Anything else, a parameter given twice or with no value is a 400 (after authentication and
    permissions, so outsiders still learn nothing) instead of being silently ignored."""

    query_serializer_class = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        allowed = self.query_parameter_names()
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            takes = ", ".join(sorted(allowed)) or "none"
            raise exceptions.ValidationError(
                {"detail": f"Unknown query parameter(s): {', '.join(unknown)}. This endpoint takes: {takes}."}
            )
        repeated = sorted(name for name, values in request.query_params.lists() if len(values) > 1)
        if repeated:
            raise exceptions.ValidationError(
                {"detail": f"Give each query parameter once: {', '.join(repeated)}."}
            )
        empty = sorted(name for name, value in request.query_params.items() if value == "")
        if empty:  # DRF would read an empty filter as no filter at all
            raise exceptions.ValidationError(
                {name: ["Give a value, or leave the parameter out."] for name in empty}
            )

    def query_parameter_names(self) -> set[str]:
        method = self.request.method.lower()
        if method not in ("get", "head") and hasattr(self, method):
            return set()  # a write the view takes has no filters, pages or ordering
        names = set(self.query_serializer_class().fields) if self.query_serializer_class else set()
        if isinstance(self, mixins.ListModelMixin):
            paginator = self.paginator
            for attribute in ("page_query_param", "page_size_query_param", "cursor_query_param"):
                if getattr(paginator, attribute, None):
                    names.add(getattr(paginator, attribute))
            for backend in self.filter_backends:
                if issubclass(backend, filters.OrderingFilter):
                    names.add(backend.ordering_param)
        return names


class ClosedSerializer(serializers.Serializer):
    """A request body that takes the fields it declares and no others: an unknown field is a 400
    naming it, and the schema says so (additionalProperties: false, core.api_schema)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise exceptions.ValidationError({name: ["Unknown field."] for name in unknown})
            if isinstance(data, dict):  # JSON, where every value has its type (a form's are all text)
                wrong = {
                    name: [problem]
                    for name, value in data.items()
                    if (problem := json_type_problem(self.fields[name], value)) is not None
                }
                if wrong:
                    raise exceptions.ValidationError(wrong)
        return super().to_internal_value(data)


# JSON types each kind of field takes. DRF would also read "5" as 5, 1 as true and 5 as "5":
# the schema says which type a field has, and a client sending another has made a mistake.
_JSON_TYPES = (
    (serializers.BooleanField, (bool,), "Give true or false."),
    (serializers.IntegerField, (int,), "Give a whole number."),
    (serializers.FloatField, (int, float), "Give a number."),
    (serializers.ChoiceField, (str,), "Give one of the choices, as text."),
    (serializers.CharField, (str,), "Give text."),
    (serializers.UUIDField, (str,), "Give a UUID, as text."),
    (serializers.ListField, (list,), "Give a list."),
)


def json_type_problem(field: serializers.Field, value) -> str | None:
    """Why `value` is not of the JSON type `field` takes, or None (null is the field's own check)."""
    if value is None:
        return None
    for kind, types, message in _JSON_TYPES:
        if isinstance(field, kind):
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                return message
            if isinstance(field, serializers.ListField):
                problems = (json_type_problem(field.child, item) for item in value)
                return next((problem for problem in problems if problem is not None), None)
            return None
    return None


# DRF refuses NUL characters in text input; saying so in the schema (as a pattern) keeps the
# documented contract and the behaviour the same for clients and for the schema tests.
NO_NUL_CHARACTERS = RegexValidator(r"^[^\x00]*$", "Null characters are not allowed.")
# The same for text that is required: DRF trims it, so it needs something besides whitespace.
SOME_TEXT = RegexValidator(r"^[^\x00]*[^\x00\s][^\x00]*$", "Give some text (and no null characters).")


# What PostgreSQL text and UTF-8 cannot hold: refused in any JSON string or key, path or query.
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_DEPTH = 32


class ConflictSerializer(serializers.Serializer):
    """A 409's body, for the schema: the state of things refuses the request, `detail` says why."""

    detail = serializers.CharField()


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing before any view runs what would otherwise fail deep inside one:
    a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413; DRF reads JSON past Django's own check), nesting
    deeper than MAX_JSON_DEPTH, NaN or Infinity, and a NUL or a lone surrogate in any string."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit:,} bytes.")
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"The request body is not valid {encoding} text.") from None
        except RecursionError:
            raise exceptions.ParseError(_TOO_DEEP) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        problem = json_problem(data)
        if problem:
            raise exceptions.ParseError(problem)
        return data


_TOO_DEEP = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def json_problem(data) -> str | None:
    """Why parsed JSON cannot be accepted (too deep, or unstorable text and where), or None."""
    stack: list[tuple[object, int, tuple | None]] = [(data, 1, None)]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                return _TOO_DEEP
            for key, item in value.items() if isinstance(value, dict) else enumerate(value):
                if isinstance(key, str) and UNSTORABLE_TEXT.search(key):
                    return f"A key at {_json_path(where)} contains a NUL character or a lone surrogate."
                stack.append((item, depth + 1, (where, key)))
        elif isinstance(value, str) and UNSTORABLE_TEXT.search(value):
            return f"The text at {_json_path(where)} contains a NUL character or a lone surrogate."
    return None


def _json_path(where: tuple | None) -> str:
    keys = []
    while where is not None:
        where, key = where
        keys.append(str(key))
    return ".".join(reversed(keys)) or "the top level"


def _page_size_from(request, paginator) -> int:
    """`?page_size=`: a whole number from 1 to the paginator's maximum, else a 400 (DRF would
    silently fall back to the default or cut it to the maximum)."""
    raw = request.query_params.get(paginator.page_size_query_param)
    if raw is None:
        return paginator.page_size
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= paginator.max_page_size):
        raise exceptions.ValidationError(
            {paginator.page_size_query_param: [f"Give a whole number from 1 to {paginator.max_page_size}."]}
        )
    return int(raw)


def _page_size_parameter(paginator) -> dict:
    return {
        "name": paginator.page_size_query_param,
        "required": False,
        "in": "query",
        "description": "Number of results to return per page.",
        "schema": {"type": "integer", "minimum": 1, "maximum": paginator.max_page_size},
    }


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        return _page_size_from(request, self)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None or raw in self.last_page_strings:
            return super().get_page_number(request, paginator)
        if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise exceptions.ValidationError({self.page_query_param: ["Give a page number from 1."]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        page = {
            "name": self.page_query_param,
            "required": False,
            "in": "query",
            "description": "A page number (404 past the last page).",
            "schema": {"type": "integer", "minimum": 1},
        }
        return [page, _page_size_parameter(self)]


class CursorPagination(pagination.CursorPagination):
    """For tables that may hold millions of rows: no COUNT(*), stable under inserts.

    A cursor that was not made by us (undecodable, or a position that is not a value of the
    ordering field) is a 404, like any other page that does not exist, before it reaches the
    database: a cursor is opaque, so no schema can tell a client which strings are valid ones.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "id"

    def get_page_size(self, request):
        return _page_size_from(request, self)

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise self._invalid() from None
        if cursor is None or cursor.position is None:
            return cursor
        if UNSTORABLE_TEXT.search(cursor.position):
            raise self._invalid()
        field_name = self.ordering[0].lstrip("-")
        if "__" not in field_name:
            field = self.model._meta.get_field(field_name)
            try:
                field.run_validators(field.to_python(cursor.position))
            except DjangoValidationError:
                raise self._invalid() from None
        return cursor

    def _invalid(self) -> exceptions.NotFound:
        return exceptions.NotFound("Invalid cursor: follow the `next` and `previous` links as given.")

    def get_schema_operation_parameters(self, view):
        cursor = {
            "name": self.cursor_query_param,
            "required": False,
            "in": "query",
            "description": "The pagination cursor value, from a `next` or `previous` link.",
            "schema": {"type": "string", "pattern": NO_NUL_CHARACTERS.regex.pattern},
        }
        return [cursor, _page_size_parameter(self)]


class AllowListOrderingFilter(filters.OrderingFilter):
    """`?ordering=` restricted to the view's `ordering_choices` (e.g. ("id", "-id")).

    Anything else is a 400, never passed to the ORM. One term only, because cursor pagination
    pages on its first ordering field.
    """

    def get_valid_fields(self, queryset, view, context=None):
        return [(choice.lstrip("-"), choice.lstrip("-")) for choice in view.ordering_choices]

    def get_ordering(self, request, queryset, view):
        value = request.query_params.get(self.ordering_param)
        if value is None or value == "":
            return self.get_default_ordering(view)
        if value not in view.ordering_choices:
            allowed = ", ".join(view.ordering_choices)
            raise exceptions.ValidationError(
                {self.ordering_param: [f"Unknown ordering {value!r}: use one of {allowed}."]}
            )
        tiebreak = "-id" if value.startswith("-") else "id"
        return [value] if value.lstrip("-") == "id" else [value, tiebreak]

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": "Sort order.",
                "schema": {"type": "string", "enum": list(view.ordering_choices)},
            }
        ]


def query_params_validate(serializer_class, request) -> dict:
    """Typed, validated filter values from the query string (400 on bad input)."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return {key: value for key, value in serializer.validated_data.items() if value is not None}


def exception_handler(exc, context):
    """DRF's handler, plus domain errors: NotFound 404, AccessDenied 403, Conflict 409, other
    errors 400."""
    # Imported here: DRF's settings import this module while rest_framework.views is loading.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, NotFound):
        exc = exceptions.NotFound(exc.message)
    elif isinstance(exc, AccessDenied):
        exc = exceptions.PermissionDenied(exc.message)
    elif isinstance(exc, Conflict):
        exc = ConflictError(exc.message)
    elif isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError({"detail": exc.message, **exc.extra})
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError({"detail": exc.messages})
    return drf_exception_handler(exc, context)


@csrf_exempt  # it changes nothing, and a refused CSRF check would answer HTML
def api_not_found(request, *args, **kwargs):
    """Every /api/ address no route matched, such as an unknown path or a slug the URL converter
    refuses: a JSON 404 like the API's own, not Django's HTML page. A GET missing only its
    trailing slash is redirected, as Django does for pages."""
    with_slash = request.path_info + "/"
    if not request.path_info.endswith("/"):
        try:
            match = resolve(with_slash)
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            if request.method in ("GET", "HEAD"):
                query = request.META.get("QUERY_STRING", "")
                return HttpResponsePermanentRedirect(request.path + "/" + (f"?{query}" if query else ""))
            return JsonResponse({"detail": f"Not found. Did you mean {request.path}/ ?"}, status=404)
    return JsonResponse({"detail": "Not found."}, status=404)
