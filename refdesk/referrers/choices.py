from django.db import models


class ReferrerKind(models.TextChoices):
    PERSON = "person", "Person"  # a clinician, coordinator, navigator
    ORGANIZATION = "organization", "Organization"  # a patient group, lab, platform, foundation
