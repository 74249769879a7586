"""A page with a nonced inline script, to test the nonce plumbing (template → header)."""

from django.http import HttpResponse
from django.template import engines
from django.urls import path

PAGE = engines["django"].from_string(
    '<!doctype html><script nonce="{{ csp_nonce }}">document.title = "ok";</script>'
)


def page_with_script(request):
    return HttpResponse(PAGE.render({}, request))


urlpatterns = [path("with-script", page_with_script)]
