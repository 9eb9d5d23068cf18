from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "projects"

    def ready(self):
        # Its background jobs (core.jobs): imports of examples and annotations.
        from core.jobs.services import job_kind_register
        from projects.services import gold, predictions  # noqa: F401  (register their importers)
        from projects.services.imports import IMPORT_JOBS

        job_kind_register(IMPORT_JOBS)
