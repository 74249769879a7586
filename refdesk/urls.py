from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path

from refdesk.api.v1 import api
from refdesk.portal.views import front_door


def healthz(request):
    """Liveness for load balancers: no database work, no data."""
    return JsonResponse({"status": "ok"})


# The admin has no login of its own: it sends visitors to allauth's, which asks for the second
# factor. Django's admin login form would accept a password alone.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", front_door, name="front_door"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("r/status/", include("refdesk.portal.urls_status")),
    path("r/", include("refdesk.portal.urls")),
    path("desk/", include("refdesk.desk.urls")),
    path("hooks/", include("refdesk.portal.urls_hooks")),
    # Staff calendar feeds: no session, the token in the path is the credential.
    path("calendar/", include("refdesk.desk.urls_feed")),
    path("", include("refdesk.portal.urls_recipient")),
]
