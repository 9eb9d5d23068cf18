"""Top-level URLs: auth, the apps' pages, the admin and the REST API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.decorators.http import require_http_methods
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from core import accounts, notices
from core.api import api_not_found
from core.api_docs import ApiDocsView
from core.api_tokens import api_token_revoke_view, api_tokens
from projects.views.invitations import invitation_accept

# Methods first, as for every page: a form page takes GET and POST, a message page only reads.
_forms = require_http_methods(["GET", "POST"])
_read = require_http_methods(["GET", "HEAD"])

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="projects:list", permanent=False)),
    path(
        "accounts/login/",
        # Methods first: the view would redirect a signed-in user whatever the method.
        require_http_methods(["GET", "POST"])(accounts.LoginView.as_view()),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/first-run/", accounts.first_run, name="first_run"),
    path("accounts/password/", _forms(auth_views.PasswordChangeView.as_view()), name="password_change"),
    path(
        "accounts/password/done/",
        _read(auth_views.PasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path("accounts/password/reset/", _forms(auth_views.PasswordResetView.as_view()), name="password_reset"),
    path(
        "accounts/password/reset/sent/",
        _read(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        _forms(accounts.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        _read(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
    path("invitations/<str:token>/", invitation_accept, name="invitation_accept"),
    path("admin/", admin.site.urls),
    path("account/tokens/", api_tokens, name="api_tokens"),
    path("notices/", notices.notice_list, name="notices"),
    path("notices/read/", notices.notice_read, name="notices_read"),
    path("account/tokens/<int:token_id>/revoke/", api_token_revoke_view, name="api_token_revoke"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api_schema"), name="api_docs"),
    path("api/v1/", include("config.api_urls")),
    path("projects/", include("projects.urls")),
    path("projects/<slug:slug>/", include("labeling.urls")),
    path("projects/<slug:slug>/", include("consistency.urls")),
    # Last: whatever else starts with api/ is a JSON 404, never Django's HTML page.
    re_path(r"^api/", api_not_found),
]
