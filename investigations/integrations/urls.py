from django.urls import path

from investigations.integrations import views

urlpatterns = [
    path("", views.token_list, name="integration-tokens"),
    path("new/", views.token_new, name="integration-token-new"),
    path("<int:token_id>/revoke/", views.token_revoke_view, name="integration-token-revoke"),
]
