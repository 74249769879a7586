"""The staff console under /desk/. Queue pages here; the referral pages in urls_referral.py."""

from django.urls import include, path

app_name = "desk"

urlpatterns = [
    path("", include("refdesk.desk.urls_referral")),
]
