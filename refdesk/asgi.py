# WSGI is the supported interface (PERFORMANCE.md: ASGI costs 3-10x here); kept for tooling.
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "refdesk.settings.base")
application = get_asgi_application()
