from django.urls import path

from investigations.oversight import views

urlpatterns = [
    path("rules/", views.approval_rules, name="oversight-rules"),
    path("break-glass/", views.break_glass_queue, name="oversight-break-glass"),
    path("break-glass/<int:request_id>/review/", views.break_glass_review, name="oversight-break-glass-review"),
]
