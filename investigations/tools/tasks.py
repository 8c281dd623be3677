from celery import shared_task

from investigations.tools import web_security

# Task names stay "investigations.tasks.*": queued messages, beat schedules and audit actors name them.


@shared_task(name="investigations.tasks.web_security_ingest")
def web_security_ingest():
    """Periodic (beat): pull web security events from Mimecast's SIEM batch stream into the local
    table. Idempotent: events are upserted by id, and a failed run is simply repeated by the next."""
    result = web_security.web_security_ingest()
    return {"pages": result.pages, "events": result.events, "stored": result.stored, "error": result.error}
