"""Provider webhooks under ``/hooks/`` (``refdesk.portal.hooks``): signed, POST only, no login."""

from django.urls import path

from refdesk.portal import hooks

app_name = "hooks"

urlpatterns = [
    path("sms/status", hooks.sms_status, name="sms_status"),
    path("sms/inbound", hooks.sms_inbound, name="sms_inbound"),
    path("email/events", hooks.email_events, name="email_events"),
]
