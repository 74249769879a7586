"""The reports pages under /desk/ (staff, logged in): the dashboard and the pack download."""

from django.urls import path

from refdesk.desk import views_reports

urlpatterns = [
    path("reports/", views_reports.reports_dashboard, name="reports"),
    path("reports/pack", views_reports.reports_pack, name="reports_pack"),
]
