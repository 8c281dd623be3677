from django.apps import AppConfig


class InvestigationsConfig(AppConfig):
    name = "investigations"
    verbose_name = "Mimecast investigations"

    def ready(self):
        # Receivers only forward auth events to the audit writer; they hold no logic of their own.
        from investigations.accounts import receivers  # noqa: F401
