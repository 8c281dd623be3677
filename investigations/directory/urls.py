from django.urls import path

from investigations.directory import awareness_views as awareness
from investigations.directory import views

# Included at the root: the directory and the awareness pages share this feature.
urlpatterns = [
    path("directory/", views.groups, name="directory-groups"),
    path("directory/members/", views.group_members, name="directory-group-members"),
    path("directory/policies/", views.policies, name="directory-policies"),
    path("awareness/", awareness.overview, name="awareness"),
    path("awareness/user/", awareness.user, name="awareness-user"),
    path("awareness/campaign/", awareness.campaign, name="awareness-campaign"),
]
