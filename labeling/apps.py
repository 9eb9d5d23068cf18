from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"

    def ready(self):
        # What this app adds to the projects layer below it (core.hooks: a lower layer starts work
        # above it only through a hook or registry the upper app fills).
        from core.jobs.services import job_kind_register
        from labeling.services.decisions import DECISION_JOBS, decisions_refresh_start
        from labeling.services.imports import IMPORTER
        from projects import hooks
        from projects.services.imports import importer_register

        importer_register(IMPORTER)  # annotation imports from the import page, the API and the CLI
        hooks.review_rules_changed.connect(decisions_refresh_start)  # re-deciding after a rule change
        job_kind_register(DECISION_JOBS)  # that re-deciding, as a background job (core.jobs)
