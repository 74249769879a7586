"""refdesk's URLs plus, with REFDESK_BENCH_CEILING=1, the ceiling: a bare view inserting one row."""

import json
import os

from django.db import connection, transaction
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from refdesk.urls import urlpatterns as refdesk_urlpatterns


@csrf_exempt
@require_POST
def ceiling(request):
    payload = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_ceiling (created_at, payload) VALUES (%s, %s)",
            [timezone.now(), json.dumps(payload)],
        )
    return JsonResponse({"ok": True}, status=201)


urlpatterns = list(refdesk_urlpatterns)
if os.environ.get("REFDESK_BENCH_CEILING") == "1":
    urlpatterns.insert(0, path("bench/ceiling", ceiling))
