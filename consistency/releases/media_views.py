"""Downloads of a release's media: its list (media.jsonl) and the release with its media (ZIP),
both streamed, for the same reviewers who may download the release."""

from django.http import Http404, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from consistency.releases import selectors
from consistency.releases.media import (
    release_has_media,
    release_media_manifest_lines,
    release_media_zip_stream,
)
from consistency.releases.models import DatasetRelease
from consistency.releases.views import REVIEWERS
from core.errors import NotFound
from projects.access import project_role_required


def _ready_release_with_media(request, tag: str) -> DatasetRelease:
    try:
        release = selectors.release_get(project=request.project, tag=tag)
    except NotFound:
        raise Http404("Release not found.") from None
    if release.status != DatasetRelease.Status.READY or not release_has_media(release=release):
        raise Http404("This release has no media.")
    return release


def _attachment(
    stream, *, content_type: str, filename: str, release: DatasetRelease
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Release-SHA256"] = release.sha256
    return response


@require_GET
@project_role_required(*REVIEWERS)
def release_media_zip(request, slug, tag):
    release = _ready_release_with_media(request, tag)
    return _attachment(
        release_media_zip_stream(release=release),
        content_type="application/zip",
        filename=f"{release.project.slug}-{release.tag}-with-media.zip",
        release=release,
    )


@require_GET
@project_role_required(*REVIEWERS)
def release_media_list(request, slug, tag):
    release = _ready_release_with_media(request, tag)
    return _attachment(
        release_media_manifest_lines(release=release),
        content_type="application/x-ndjson; charset=utf-8",
        filename=f"{release.project.slug}-{release.tag}-media.jsonl",
        release=release,
    )
