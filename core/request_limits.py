"""Request bodies are limited while they are read, never after they are on disk.

Each URL has a limit: the upload URLs (settings.CONCORD_UPLOAD_URL_NAMES) take one file of up to
CONCORD_IMPORT_MAX_FILE_BYTES plus the form around it, every other URL CONCORD_REQUEST_MAX_BYTES.
Three pieces enforce it:
- core.middleware.RequestBodyLimitMiddleware answers 413 to a Content-Length over the limit before
  anything is read, and bounds a chunked body (no Content-Length) with `BoundedBodyStream`;
- `UploadLimitHandler`, the first upload handler, stops a multipart upload as soon as its files
  pass the limit (Django then deletes what was spooled) and raises `RequestBodyTooLarge`;
- the same handler refuses the first file of an anonymous request before reading any of it, so
  nobody who has not logged in can make the server write a file (CSRF checking reads the form
  before any view could refuse the request).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import IOBase

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import Resolver404, resolve
from rest_framework.exceptions import APIException

# Room for the multipart framing and form fields that travel with an import file.
UPLOAD_FORM_ALLOWANCE = 64 * 1024


class RequestBodyTooLarge(APIException):
    """413. An APIException so DRF renders it as JSON; core.middleware renders it for pages."""

    status_code = 413
    default_code = "request_too_large"
    default_detail = "The request body is too large."


@dataclass(frozen=True)
class BodyLimit:
    body_bytes: int  # the whole request body
    file_bytes: int  # the files in a multipart body
    message: str

    def error(self) -> RequestBodyTooLarge:
        return RequestBodyTooLarge(self.message)


def body_limit_for(request: HttpRequest) -> BodyLimit:
    """The limit of the URL the request is for (the small one for a URL that does not exist)."""
    try:
        view_name = resolve(request.path_info).view_name
    except Resolver404:
        view_name = None
    if view_name in settings.CONCORD_UPLOAD_URL_NAMES:
        max_file = settings.CONCORD_IMPORT_MAX_FILE_BYTES
        return BodyLimit(
            body_bytes=max_file + UPLOAD_FORM_ALLOWANCE,
            file_bytes=max_file,
            message=f"The file is larger than the import limit of {filesizeformat(max_file)}.",
        )
    max_body = settings.CONCORD_REQUEST_MAX_BYTES
    return BodyLimit(
        body_bytes=max_body,
        file_bytes=max_body,
        message=f"The request body is larger than {filesizeformat(max_body)}, the most this address accepts.",
    )


def smallest_body_limit() -> int:
    """The smallest limit of any URL: a body no larger fits every URL's limit."""
    return min(
        settings.CONCORD_REQUEST_MAX_BYTES, settings.CONCORD_IMPORT_MAX_FILE_BYTES + UPLOAD_FORM_ALLOWANCE
    )


def request_body_limit(request: HttpRequest) -> BodyLimit:
    """The limit the middleware worked out for this request, or works it out now."""
    limit = getattr(request, "body_limit", None)
    if limit is None:
        limit = request.body_limit = body_limit_for(request)
    return limit


class BoundedBodyStream(IOBase):
    """A request body of unknown length (chunked) that raises RequestBodyTooLarge as soon as more
    than the limit has been read, instead of handing the rest to whoever reads it."""

    def __init__(self, stream, limit: BodyLimit):
        self._stream = stream
        self._limit = limit
        self._read_bytes = 0

    def _account(self, data: bytes) -> bytes:
        self._read_bytes += len(data)
        if self._read_bytes > self._limit.body_bytes:
            raise self._limit.error()
        return data

    def _allowed(self, size: int | None) -> int:
        # One byte past the limit is enough to know the body is too large.
        remaining = self._limit.body_bytes - self._read_bytes + 1
        return remaining if size is None or size < 0 else min(size, remaining)

    def read(self, size: int | None = -1, /) -> bytes:
        return self._account(self._stream.read(self._allowed(size)))

    def readline(self, size: int | None = -1, /) -> bytes:
        return self._account(self._stream.readline(self._allowed(size)))


class UploadLimitHandler(FileUploadHandler):
    """First in FILE_UPLOAD_HANDLERS: passes file chunks on to Django's handlers while counting
    them, and stops the upload once they pass the URL's limit."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.limit = request_body_limit(self.request)
        self.file_bytes = 0
        self.exceeded = False
        return None  # the normal parsing goes on

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            # Called before any byte of the file is read: the request is answered 403 and nothing
            # reaches the disk. (Form fields are small and stay in memory, so a login redirect
            # still works for a form without files.)
            raise PermissionDenied("Log in before uploading files.")

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.file_bytes += len(raw_data)
        if self.file_bytes > self.limit.file_bytes:
            self.exceeded = True
            # connection_reset: Django neither reads the rest of the body nor keeps the files.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the uploaded file

    def upload_complete(self) -> None:
        if getattr(self, "exceeded", False):
            raise self.limit.error()
