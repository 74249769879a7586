"""Public pages for the people messages go to (``refdesk.portal.views_recipient``): the materials
sent with a message, ``/m/<token>``, and unsubscribing from emails, ``/unsubscribe/<token>``.

Paths carry only signed tokens (``refdesk.outreach.links``).
"""

from django.urls import path

from refdesk.portal import views_recipient

app_name = "recipient"

urlpatterns = [
    path("m/<str:token>", views_recipient.materials, name="materials"),
    path("unsubscribe/<str:token>", views_recipient.unsubscribe, name="unsubscribe"),
    path("book/<str:token>", views_recipient.book, name="book"),
]
