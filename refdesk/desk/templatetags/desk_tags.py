"""Small template helpers for the desk's forms."""

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``mapping|get_item:key``: a dict or QueryDict value by a variable key ("" if absent)."""
    if not mapping:
        return ""
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""


@register.filter
def getlist(mapping, key):
    """``posted|getlist:"items"``: every posted value of a multi-value field."""
    if not mapping or not hasattr(mapping, "getlist"):
        return []
    return mapping.getlist(key)
