"""Which roles work leads, and which of them may see patient data: the role sets the access
policy (``refdesk.access.policy``) and automatic assignment (``refdesk.routing``) share.

They live here, beside ``Role``, so that routing (which gives work to people) need not import
the access policy (which guards routing's queues): the app graph has no cycles.
"""

from __future__ import annotations

from refdesk.accounts.choices import Role

# Roles that contact leads and therefore see lead identity in the queues they work.
LEAD_WORKERS = frozenset(
    {
        Role.PATIENT_SERVICES_AGENT,
        Role.CLINICAL_OPS_COORDINATOR,
        Role.MEDICAL_AFFAIRS_SPECIALIST,
        Role.MEDICAL_REVIEWER,
        Role.COMMERCIAL_REP,
    }
)
# The subset that may see patient identifying and health data (the commercial rep is not in it).
PATIENT_DATA_ROLES = LEAD_WORKERS - {Role.COMMERCIAL_REP}
# Lead workers without patient-data rights never see a patient lead at all.
PATIENT_LEADS_HIDDEN_FROM = LEAD_WORKERS - PATIENT_DATA_ROLES


def assignee_roles(*, lead_kind: str) -> frozenset[str]:
    """The roles a referral with this kind of lead may be given to: those that may claim it.

    Never a supervisor, auditor or administrator (they do not work leads), and never a commercial
    rep for a patient lead (they may not even see it). Assignment also requires membership of the
    team owning the referral's queue; ``routing.assignment`` adds that.
    """
    if lead_kind == "patient":
        return LEAD_WORKERS - PATIENT_LEADS_HIDDEN_FROM
    return LEAD_WORKERS
