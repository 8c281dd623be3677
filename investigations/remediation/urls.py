from django.urls import path

from investigations.remediation import views

urlpatterns = [
    path("", views.remediation_list, name="remediation-list"),
    path("new/", views.remediation_new, name="remediation-new"),
    path("approvals/", views.remediation_approvals, name="remediation-approvals"),
    path("<int:request_id>/", views.remediation_detail, name="remediation-detail"),
    path("<int:request_id>/edit/", views.remediation_edit, name="remediation-edit"),
    path("<int:request_id>/preview/", views.remediation_preview, name="remediation-preview"),
    path("<int:request_id>/submit/", views.remediation_submit, name="remediation-submit"),
    path("<int:request_id>/cancel/", views.remediation_cancel, name="remediation-cancel"),
    path("<int:request_id>/decide/", views.remediation_decide, name="remediation-decide"),
    path("<int:request_id>/undo/", views.remediation_undo, name="remediation-undo"),
    path("<int:request_id>/break-glass/", views.remediation_break_glass, name="remediation-break-glass"),
]
