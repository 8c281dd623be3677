from django.urls import path

from .views import pages

urlpatterns = [
    path("", pages.audit_list, name="audit-list"),
]
