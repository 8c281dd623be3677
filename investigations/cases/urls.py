from django.urls import path

from investigations.cases import export_views, views

urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("new/", views.case_new, name="case-new"),
    path("leave/", views.case_leave_view, name="case-leave"),
    path("evidence/add/", views.evidence_add_view, name="case-evidence-add"),
    path("evidence/remove/", views.evidence_remove_view, name="case-evidence-remove"),
    path("<int:case_id>/", views.case_detail, name="case-detail"),
    path("<int:case_id>/edit/", views.case_edit, name="case-edit"),
    path("<int:case_id>/enter/", views.case_enter_view, name="case-enter"),
    path("<int:case_id>/export.json", export_views.case_export_json, name="case-export-json"),
    path("<int:case_id>/report/", export_views.case_report_view, name="case-report"),
]
