from django.db import models


class ProgramGoal(models.TextChoices):
    """What a program turns referrals into; it decides what "qualified" means."""

    TRIAL_PRESCREENING = "trial_prescreening", "Trial prescreening"  # qualified = meets prescreen
    CLINICIAN_EDUCATION = "clinician_education", "Clinician education"  # specialty + content match
    PATIENT_SUPPORT = "patient_support", "Patient support enrolment"  # consented, reachable patient
