"""REST API, version 1. Every endpoint scopes its queryset to the caller's projects."""

app_name = "api"

urlpatterns: list = []
