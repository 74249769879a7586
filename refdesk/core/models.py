"""Shared model base. ``core`` depends on no domain app."""

import uuid

from django.db import models


class BaseModel(models.Model):
    """Common columns: a public UUID (the only id shown outside the database) and timestamps."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
