from django.urls import path

from investigations.connection import views

urlpatterns = [
    path("", views.mimecast_connection, name="mimecast-connection"),
    path("test/", views.mimecast_connection_check, name="mimecast-connection-test"),
]
