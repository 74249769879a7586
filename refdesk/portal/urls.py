"""Public intake URLs under ``/r/``. Paths carry only the referral code and signed tokens."""

from django.urls import path

from refdesk.portal import views

app_name = "intake"

urlpatterns = [
    path("", views.start_with_code, name="start"),
    path("<str:code>", views.intake, name="form"),
    path("<str:code>/thanks/<str:token>", views.thanks, name="thanks"),
    path("<str:code>/complete/<str:token>", views.complete, name="complete"),
]
