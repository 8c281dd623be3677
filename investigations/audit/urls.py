from django.urls import path

from investigations.audit import views as audit

urlpatterns = [
    path("", audit.audit_list, name="audit-list"),
    path("event/<int:seq>/", audit.audit_event, name="audit-event"),
    # Target ids are whatever the target uses (a message-id may hold "/" and "@"): take the rest.
    path("target/<str:target_type>/<path:target_id>/", audit.audit_timeline, name="audit-timeline"),
    path("export.<str:fmt>", audit.audit_export, name="audit-export"),
    path("verification/", audit.audit_verification, name="audit-verification"),
    path("verification/start/", audit.audit_verification_begin, name="audit-verification-start"),
]
