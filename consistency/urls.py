"""Pages of the consistency app, under /projects/<slug>/: published guidelines."""

from django.urls import path

from . import views

app_name = "consistency"

urlpatterns = [
    path("guidelines/", views.guideline_versions, name="guidelines"),
    path("guidelines/v<int:number>/", views.guideline_version_detail, name="guideline_version"),
]
