"""Approved content under /desk/content/ and the development outbox under /desk/outbox/ (staff,
logged in). Versions are addressed by their public UUID only."""

from django.urls import path

from refdesk.desk import views_content

urlpatterns = [
    path("content/", views_content.content_list, name="content"),
    path("content/<uuid:public_id>/", views_content.content_detail, name="content_detail"),
    path(
        "content/<uuid:public_id>/approve",
        views_content.content_approve_view,
        name="content_approve",
    ),
    path(
        "content/<uuid:public_id>/retire",
        views_content.content_retire_view,
        name="content_retire",
    ),
    path("outbox/", views_content.outbox, name="outbox"),
]
