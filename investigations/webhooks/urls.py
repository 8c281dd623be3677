from django.urls import path

from investigations.webhooks import views

urlpatterns = [
    path("", views.webhook_list, name="webhook-list"),
    path("deliveries/", views.webhook_deliveries, name="webhook-deliveries"),
    path("<int:endpoint_id>/", views.webhook_detail, name="webhook-detail"),
    path("<int:endpoint_id>/rotate/", views.webhook_rotate, name="webhook-rotate"),
    path("<int:endpoint_id>/delete/", views.webhook_delete, name="webhook-delete"),
    path("<int:endpoint_id>/test/", views.webhook_test, name="webhook-test"),
]
