"""The schedule pages under /desk/ (staff, logged in): the agenda, availability (hours and
time off) and the private calendar feed's page. Time off is addressed by its public UUID."""

from django.urls import path

from refdesk.desk import views_agenda, views_availability, views_calendar

urlpatterns = [
    path("agenda/", views_agenda.agenda, name="agenda"),
    path("availability/", views_availability.availability, name="availability"),
    path("availability/hours", views_availability.availability_hours, name="availability_hours"),
    path("availability/time-off", views_availability.time_off_create, name="time_off_add"),
    path(
        "availability/time-off/<uuid:public_id>/remove",
        views_availability.time_off_delete,
        name="time_off_remove",
    ),
    path("calendar/", views_calendar.calendar, name="calendar"),
    path("calendar/create", views_calendar.calendar_create, name="calendar_feed_create"),
    path("calendar/revoke", views_calendar.calendar_revoke, name="calendar_feed_revoke"),
]
