from django.db import models


class Role(models.TextChoices):
    """What a staff user does; the access policy (issue 5) keys on it."""

    PATIENT_SERVICES_AGENT = "patient_services_agent", "Patient-services agent"  # patient leads
    CLINICAL_OPS_COORDINATOR = "clinical_ops_coordinator", "Clinical-operations coordinator"
    MEDICAL_AFFAIRS_SPECIALIST = "medical_affairs_specialist", "Medical-affairs specialist"
    MEDICAL_REVIEWER = "medical_reviewer", "Medical reviewer"  # approves flagged responses
    COMMERCIAL_REP = "commercial_rep", "Commercial representative"  # never sees patient data
    # Pharmacovigilance: works the drug-safety queue (acknowledges and triages possible adverse
    # events); sees the lead and the reported text, never works the lead's contact.
    DRUG_SAFETY_OFFICER = "drug_safety_officer", "Drug-safety officer"
    PROGRAM_OWNER = "program_owner", "Program owner"  # applies rule changes, reads reports
    COMPLIANCE_AUDITOR = "compliance_auditor", "Compliance auditor"  # read-only, data masked
    ADMINISTRATOR = "administrator", "Administrator"
