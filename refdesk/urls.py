from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path

from refdesk.api.v1 import api


def healthz(request):
    """Liveness for load balancers: no database work, no data."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("r/", include("refdesk.intake.urls")),
    path("desk/", include("refdesk.desk.urls")),
]
