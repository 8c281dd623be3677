from django.urls import path

from .views import directory

urlpatterns = [
    path("", directory.groups, name="directory-groups"),
    path("members/", directory.group_members, name="directory-group-members"),
    path("policies/", directory.policies, name="directory-policies"),
]
