from django.urls import path

from investigations.entities import views as entities

urlpatterns = [
    path("<str:kind>/<path:value>/", entities.entity, name="entity"),
]
