from django.urls import path

from .views import awareness

urlpatterns = [
    path("", awareness.overview, name="awareness"),
    path("user/", awareness.user, name="awareness-user"),
    path("campaign/", awareness.campaign, name="awareness-campaign"),
]
