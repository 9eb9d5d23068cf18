"""The HTTP answer that hands out an example's image or audio file: its one way out of private
storage, for the member page (projects.views.media) and the API (projects.api.views) alike.

Only the types the import checked by content are served, with that type, `nosniff`, a sandboxing
Content-Security-Policy and `Cache-Control: private`, so a file can never run as a page. Single
byte ranges are answered (206), which audio players need to seek.
"""

import re

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, HttpResponseNotModified
from django.utils.http import content_disposition_header

from core.errors import NotFound
from projects.models import Example

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CACHE_SECONDS = 3600


def media_file_response(request, example: Example) -> HttpResponse:
    """The file of `example` (already access-checked by the caller), whole or the asked range.
    NotFound when the file is missing from storage."""
    etag = f'"{example.media_sha256}"'
    if request.headers.get("If-None-Match") == etag:
        return _secured(HttpResponseNotModified(), etag)
    try:
        handle = default_storage.open(example.media_file, "rb")
    except FileNotFoundError:
        raise NotFound("The media file is missing from storage.") from None
    size = example.media_bytes
    byte_range = _range(request.headers.get("Range", ""), size)
    if byte_range == "unsatisfiable":
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _secured(response, etag)
    if byte_range is None:
        response = FileResponse(handle, content_type=example.media_type)
    else:
        start, end = byte_range
        handle.seek(start)
        response = FileResponse(
            _limited(handle, end - start + 1), content_type=example.media_type, status=206
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    name = example.media_name.rsplit("/", 1)[-1] or f"example-{example.pk}"
    response["Content-Disposition"] = content_disposition_header(False, name)
    response["Accept-Ranges"] = "bytes"
    return _secured(response, etag)


def _secured(response, etag: str):
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = f"private, max-age={CACHE_SECONDS}"
    response["ETag"] = etag
    return response


def _range(header: str, size: int):
    """(start, end) of a single satisfiable byte range, None to send the whole file, or
    "unsatisfiable"."""
    match = RANGE.match(header.strip())
    if not match or size == 0:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end


def _limited(handle, length: int, block: int = 64 * 1024):
    try:
        while length > 0:
            data = handle.read(min(block, length))
            if not data:
                return
            length -= len(data)
            yield data
    finally:
        handle.close()
