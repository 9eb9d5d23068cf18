from django.apps import AppConfig


class ConsistencyConfig(AppConfig):
    name = "consistency"

    def ready(self):
        # New labels refresh agreement (core.hooks: the labeling layer below fires, this app listens).
        from consistency.agreement.services import agreement_refresh_after_new_annotations
        from labeling import hooks

        hooks.annotations_changed.connect(agreement_refresh_after_new_annotations)
