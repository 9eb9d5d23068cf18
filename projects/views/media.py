"""Serving an example's image or audio file to the project's members, and no one else.

Files live in private storage; this view is their only way out. Anyone who is not a member
(anonymous users included) gets 404, as for every project URL. Only the types the import
checked by content are served, with that type, `nosniff`, a sandboxing Content-Security-Policy
and `Cache-Control: private`, so a file can never run as a page. Single byte ranges are
answered (206), which audio players need to seek.
"""

import re

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotModified
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from core.errors import NotFound
from projects.selectors import example_media_get

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CACHE_SECONDS = 3600


@require_safe
def example_media(request, slug: str, example_id: int):
    try:
        example = example_media_get(user=request.user, slug=slug, example_id=example_id)
    except NotFound:
        raise Http404("No such media file.") from None
    etag = f'"{example.media_sha256}"'
    if request.headers.get("If-None-Match") == etag:
        return _secured(HttpResponseNotModified(), etag)
    try:
        handle = default_storage.open(example.media_file, "rb")
    except FileNotFoundError:
        raise Http404("The media file is missing from storage.") from None
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
