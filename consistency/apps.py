from django.apps import AppConfig


class ConsistencyConfig(AppConfig):
    name = "consistency"

    def ready(self):
        # New labels refresh agreement (core.hooks: the labeling layer below fires, this app listens).
        from consistency.agreement.services import REPORT_JOBS, agreement_refresh_after_new_annotations
        from consistency.releases.services import RELEASE_JOBS
        from core.jobs.services import job_kind_register
        from labeling import hooks

        hooks.annotations_changed.connect(agreement_refresh_after_new_annotations)
        # Its background jobs (core.jobs): agreement reports and dataset releases.
        job_kind_register(REPORT_JOBS)
        job_kind_register(RELEASE_JOBS)
