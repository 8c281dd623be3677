from django.urls import path

from investigations.api.views import api

urlpatterns = [path("", api.urls)]
