"""Static files survive `collectstatic` with the production storage (hashed names in a manifest,
which refuses any file that names a missing one) and are served from the result."""

import json
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

# config.settings.production uses this storage (tests/test_settings.py checks it); importing those
# settings here would need their secret key.
MANIFEST_STORAGE = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
# The files the templates name: each must be in the manifest, or every page using it is a 500.
VENDORED = ["vendor/htmx.min.js", "vendor/chart.umd.min.js"]
API_DOCS_ASSETS = [
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
]


@pytest.fixture
def collected(tmp_path):
    root = tmp_path / "staticfiles"
    with override_settings(STATIC_ROOT=root, STORAGES={**settings.STORAGES, "staticfiles": MANIFEST_STORAGE}):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield root


def test_collectstatic_keeps_every_vendored_file_and_the_api_docs_assets(collected):
    paths = json.loads((collected / "staticfiles.json").read_text())["paths"]
    missing = [name for name in [*VENDORED, *API_DOCS_ASSETS] if name not in paths]
    assert not missing, f"not collected (run `make vendor`?): {missing}"
    # The source map Chart.js names is collected too, and the reference points at its hashed copy.
    chart = (collected / paths["vendor/chart.umd.min.js"]).read_text()
    assert f"sourceMappingURL={paths['vendor/chart.umd.min.js.map'].split('/')[-1]}" in chart


@pytest.mark.django_db
def test_pages_and_static_files_are_served_from_the_collected_files(collected):
    client = Client()  # a new client: WhiteNoise indexes STATIC_ROOT when the middleware starts
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    htmx = re.search(r'src="(/static/vendor/htmx\.min\.[0-9a-f]{12}\.js)"', page.content.decode())
    assert htmx, "the login page does not name the hashed htmx file"
    asset = client.get(htmx.group(1))
    assert asset.status_code == 200
    assert b"htmx" in b"".join(asset.streaming_content)
