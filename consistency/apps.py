from django.apps import AppConfig


class ConsistencyConfig(AppConfig):
    name = "consistency"

    def ready(self):
        # The hooks this app registers with the projects app below it (STYLE: a lower layer
        # starts work above it only through a hook the upper app registers).
        from labeling.services.decisions import decisions_refresh_start
        from labeling.services.imports import IMPORTER
        from projects.services.imports import importer_register
        from projects.services.projects import review_rules_changed_connect

        importer_register(IMPORTER)  # annotation imports from the import page, the API and the CLI
        review_rules_changed_connect(decisions_refresh_start)  # re-deciding after a rule change
