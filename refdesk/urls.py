from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from refdesk.api.v1 import api
from refdesk.ops import healthz, metrics, readyz
from refdesk.portal.views import front_door

# The admin has no login of its own: it sends visitors to allauth's, which asks for the second
# factor. Django's admin login form would accept a password alone.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("", front_door, name="front_door"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    # Answered first by refdesk.ops.ProbeMiddleware (plain HTTP, any Host); listed for reverse()
    # and the access matrix.
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("r/status/", include("refdesk.portal.urls_status")),
    path("r/", include("refdesk.portal.urls")),
    path("desk/", include("refdesk.desk.urls")),
    path("hooks/", include("refdesk.portal.urls_hooks")),
    # Staff calendar feeds: no session, the token in the path is the credential.
    path("calendar/", include("refdesk.desk.urls_feed")),
    path("", include("refdesk.portal.urls_recipient")),
]
