"""Public (no login) desk pages: the referrer's status link. Mounted at ``/r/status/``.

The path carries only a signed token (``refdesk.intake.links``).
"""

from django.urls import path

from refdesk.portal import views

app_name = "status"

urlpatterns = [
    path("<str:token>", views.referral_status, name="referral_status"),
]
