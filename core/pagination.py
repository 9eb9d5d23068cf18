"""Page numbers from the address, read forgivingly: a page past the end or a word shows a real page
with a sentence saying why, never an error page."""

from django.core.paginator import Page, Paginator


def page_get(paginator: Paginator, raw: str | None) -> tuple[Page, str]:
    """The page asked for, or the nearest one, and a message when it was not the one asked for."""
    if raw in (None, ""):
        return paginator.page(1), ""
    try:
        number = int(raw)
    except (TypeError, ValueError):
        return paginator.page(1), f"'{str(raw)[:20]}' is not a page number; showing page 1."
    last = paginator.num_pages
    if number < 1:
        return paginator.page(1), "Pages start at 1; showing page 1."
    if number > last:
        pages = "There is only 1 page" if last == 1 else f"There are only {last} pages"
        return paginator.page(last), f"{pages}; showing page {last}."
    return paginator.page(number), ""
