"""The partner API's request-body parser: JSON only, strictly.

django-ninja reads every body through its API's ``parser`` (``ninja.parser.Parser``) and wraps
anything the parser raises in a 400 ``HttpError``; ``refdesk.api.errors`` unwraps the
``ApplicationError`` raised here so each case has its documented status and code
(docs/api-errors.md):

- a content type other than ``application/json`` (a ``charset`` parameter is allowed, and
  must then be UTF-8), or none: 415 ``unsupported_media_type``;
- a body that is not UTF-8, not JSON (truncated, NaN or Infinity, a byte order mark) or that
  names a key twice in one object: 422 ``invalid_json``;
- nesting deeper than ``MAX_DEPTH`` objects and lists: 422 ``too_deep``.

A top-level value that is not an object is not the parser's business: the schema refuses it
(422 ``wrong_type`` on ``body``) like any other value of the wrong type.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from refdesk.core.errors import ApplicationError

JSON_MEDIA_TYPE = "application/json"
# The deepest real request nests 3 levels (body -> consent -> purposes); 32 leaves room for
# any future schema and none for a body built to exhaust the parser.
MAX_DEPTH = 32


class UnsupportedMediaType(ApplicationError):
    code = "unsupported_media_type"
    status = 415


class MalformedBody(ApplicationError):
    code = "invalid_json"
    status = 422


class TooDeep(MalformedBody):
    code = "too_deep"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedBody("An object in the request body names the same key twice.", field="body")
    return result


def _depth(value: Any) -> int:
    """How many objects and lists deep ``value`` goes (iterative: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_media_type(request: HttpRequest) -> None:
    if request.content_type != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType(
            "Send the request body as JSON with Content-Type: application/json.", field="body"
        )
    charset = request.content_params.get("charset")
    if charset is not None and charset.strip().lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            "Send the request body as UTF-8 (Content-Type: application/json; charset=utf-8).",
            field="body",
        )


def _too_deep() -> TooDeep:
    return TooDeep(f"The request body nests deeper than {MAX_DEPTH} levels.", field="body")


class StrictJSONParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        check_media_type(request)
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedBody("The request body is not valid UTF-8.", field="body") from None
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
        except RecursionError:
            raise _too_deep() from None
        except ValueError:  # JSONDecodeError, NaN/Infinity, an integer of over 4300 digits
            raise MalformedBody("The request body is not valid JSON.", field="body") from None
        if _depth(data) > MAX_DEPTH:
            raise _too_deep()
        return data
