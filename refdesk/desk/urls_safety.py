"""The drug-safety officer's pages under /desk/safety/ (staff, logged in).

Notices are addressed by their public UUID only; nothing about the referral or the lead is in
a URL.
"""

from django.urls import path

from refdesk.desk import views_safety

urlpatterns = [
    path("safety/notices", views_safety.notice_list, name="safety_notices"),
    path(
        "safety/notices/<uuid:public_id>",
        views_safety.notice_detail,
        name="safety_notice",
    ),
    path(
        "safety/notices/<uuid:public_id>/acknowledge",
        views_safety.notice_acknowledge_view,
        name="safety_notice_acknowledge",
    ),
    path(
        "safety/notices/<uuid:public_id>/triage",
        views_safety.notice_triage_view,
        name="safety_notice_triage",
    ),
]
