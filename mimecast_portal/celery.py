import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mimecast_portal.settings")

app = Celery("mimecast_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Tasks live with their feature; their names stay "investigations.tasks.*" whatever the module.
app.autodiscover_tasks(
    [
        "investigations.core",
        "investigations.audit",
        "investigations.tools",
        "investigations.remediation",
        "investigations.webhooks",
    ]
)
