"""Public pages for the people messages go to: the materials sent with a message, ``/m/<token>``,
unsubscribing from emails, ``/unsubscribe/<token>`` (``views_recipient``), and the lead's booking
page, ``/book/<token>``, with the booked appointment's invite (``views_booking``).

Paths carry only signed tokens (``refdesk.outreach.links``, ``refdesk.outreach.booking_links``).
"""

from django.urls import path

from refdesk.portal import views_booking, views_recipient

app_name = "recipient"

urlpatterns = [
    path("m/<str:token>", views_recipient.materials, name="materials"),
    path("unsubscribe/<str:token>", views_recipient.unsubscribe, name="unsubscribe"),
    path("book/<str:token>", views_booking.book, name="book"),
    path("book/<str:token>/invite.ics", views_booking.invite, name="book_invite"),
]
