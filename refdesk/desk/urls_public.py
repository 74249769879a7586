"""Public (no login) desk pages: the referrer's status link. Mounted at ``/r/status/``.

The path carries only a signed token; see ``refdesk.desk.status``.
"""

from django.urls import path

from refdesk.desk import status

app_name = "status"

urlpatterns = [
    path("<str:token>", status.referral_status, name="referral_status"),
]
