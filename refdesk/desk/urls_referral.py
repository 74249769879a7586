"""Referral detail, timeline fragment, actions, manual checks and search under /desk/ (staff,
logged in).

Referrals are addressed by their public UUID only; anything else does not resolve.
"""

from django.urls import path

from refdesk.desk import views_referral, views_search

urlpatterns = [
    path(
        "referrals/<uuid:public_id>",
        views_referral.referral_detail,
        name="referral_detail",
    ),
    path(
        "referrals/<uuid:public_id>/timeline",
        views_referral.referral_timeline_fragment,
        name="referral_timeline",
    ),
    path(
        "referrals/<uuid:public_id>/actions/<slug:action>",
        views_referral.referral_action,
        name="referral_action",
    ),
    path(
        "referrals/<uuid:public_id>/checks/<uuid:check_id>/done",
        views_referral.referral_check_done,
        name="referral_check_done",
    ),
    path("search", views_search.search, name="search"),
]
