"""The staff console under /desk/. Queue pages here; the referral pages in urls_referral.py."""

from django.urls import include, path

from refdesk.desk import views_inbox, views_queues

app_name = "desk"

urlpatterns = [
    path("", views_queues.queue_index, name="queues"),
    path("queues/<slug:slug>", views_queues.queue_detail, name="queue"),
    path(
        "queues/<slug:slug>/referrals/<uuid:public_id>/claim",
        views_queues.queue_claim,
        name="queue_claim",
    ),
    path("notifications", views_inbox.notifications, name="notifications"),
    path("notifications/badge", views_inbox.notifications_badge, name="notifications_badge"),
    path("notifications/read", views_inbox.notifications_read, name="notifications_read"),
    path("preferences", views_inbox.preferences, name="preferences"),
    path("", include("refdesk.desk.urls_referral")),
    path("", include("refdesk.desk.urls_safety")),
]
