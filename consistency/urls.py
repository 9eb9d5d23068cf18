"""Pages of the consistency app, under /projects/<slug>/: published guidelines and the agreement
dashboard."""

from django.urls import path

from . import dashboard_views, views

app_name = "consistency"

urlpatterns = [
    path("guidelines/", views.guideline_versions, name="guidelines"),
    path("guidelines/v<int:number>/", views.guideline_version_detail, name="guideline_version"),
    path("agreement/", dashboard_views.agreement_dashboard, name="agreement_dashboard"),
    path("agreement/reports/", dashboard_views.agreement_report_create, name="agreement_report_create"),
    path("agreement/status/", dashboard_views.agreement_report_status, name="agreement_report_status"),
]
