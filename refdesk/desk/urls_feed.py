"""The staff calendar feed, ``/calendar/<token>.ics``: read by calendar programs without a
session; the unguessable token is the credential (``views_calendar.feed``)."""

from django.urls import path

from refdesk.desk import views_calendar

app_name = "calendar"

urlpatterns = [
    path("<str:token>.ics", views_calendar.feed, name="feed"),
]
