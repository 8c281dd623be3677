from django.urls import path

from investigations.workspace import views as workspace

urlpatterns = [
    path("", workspace.home, name="home"),
    path("search/quick/", workspace.quick_search, name="quick-search"),
    path("search/track/", workspace.track_trace, name="track-trace"),
    path("search/archive/", workspace.archive_search, name="archive-search"),
    path("search/archive/details/", workspace.archive_details, name="archive-details"),
    path("search/mailbox/", workspace.mailbox_view, name="mailbox-view"),
    path("search/selection/", workspace.selection, name="selection"),
    path("messages/<str:message_id>/", workspace.message_detail, name="message-detail"),
    path("messages/<str:message_id>/related/", workspace.message_related, name="message-related"),
    path("messages/<str:message_id>/body/", workspace.message_body, name="message-body"),
    path("messages/<str:message_id>/body/frame/", workspace.message_body_frame, name="message-body-frame"),
    path("messages/<str:message_id>/download/", workspace.message_download, name="message-download"),
    path(
        "messages/<str:message_id>/attachments/<str:attachment_id>/download/",
        workspace.attachment_download,
        name="attachment-download",
    ),
]
