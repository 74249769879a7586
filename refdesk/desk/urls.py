"""The staff console under /desk/. Queue pages and work tools here; the referral pages in
urls_referral.py."""

from django.urls import include, path

from refdesk.desk import views_inbox, views_queues, views_work

app_name = "desk"

urlpatterns = [
    path("", views_queues.queue_index, name="queues"),
    path("work", views_queues.my_work, name="my_work"),
    path("work/next", views_work.next_referral, name="next_referral"),
    path("queues/<slug:slug>", views_queues.queue_detail, name="queue"),
    path("queues/<slug:slug>/next", views_work.next_referral, name="queue_next"),
    path("queues/<slug:slug>/bulk", views_work.queue_bulk, name="queue_bulk"),
    path(
        "queues/<slug:slug>/referrals/<uuid:public_id>/claim",
        views_queues.queue_claim,
        name="queue_claim",
    ),
    path("saved-filters", views_work.saved_filter_create, name="saved_filter_create"),
    path(
        "saved-filters/<uuid:public_id>/delete",
        views_work.saved_filter_remove,
        name="saved_filter_delete",
    ),
    path("notifications", views_inbox.notifications, name="notifications"),
    path("notifications/badge", views_inbox.notifications_badge, name="notifications_badge"),
    path("notifications/read", views_inbox.notifications_read, name="notifications_read"),
    path("preferences", views_inbox.preferences, name="preferences"),
    path("", include("refdesk.desk.urls_referral")),
    path("", include("refdesk.desk.urls_safety")),
    path("", include("refdesk.desk.urls_content")),
    path("", include("refdesk.desk.urls_schedule")),
    path("", include("refdesk.desk.urls_reports")),
    path("", include("refdesk.desk.urls_audit")),
]
