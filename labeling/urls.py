"""Pages of the labeling app, under /projects/<slug>/."""

app_name = "labeling"

urlpatterns: list = []
