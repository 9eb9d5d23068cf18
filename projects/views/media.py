"""Serving an example's image or audio file to the project's members, and no one else.

Files live in private storage; projects.media_files.media_file_response is their only way out.
Anyone who is not a member (anonymous users included) gets 404, as for every project URL.
"""

from django.http import Http404
from django.views.decorators.http import require_safe

from core.errors import NotFound
from projects.media_files import media_file_response
from projects.selectors import example_media_get


@require_safe
def example_media(request, slug: str, example_id: int):
    try:
        example = example_media_get(user=request.user, slug=slug, example_id=example_id)
        return media_file_response(request, example)
    except NotFound as exc:
        raise Http404(exc.message) from None
