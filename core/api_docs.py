"""Interactive API docs (Swagger UI) that run under our strict CSP: the assets come from
drf-spectacular-sidecar's static files and the start-up script is a separate request."""

from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    # The stock template has an inline <style> block, which the CSP (style-src 'self') refuses.
    template_name = "core/api_docs.html"
