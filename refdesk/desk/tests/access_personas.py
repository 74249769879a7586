"""Staff personas for the desk tests: one user per role, in the demo's teams.

Mirrors ``refdesk.demo.builder.DEMO_USERS`` (the owner works in three teams, the auditor and the
administrator in none), plus an outsider: a patient-services agent of another team's work.
Needs the demo programs applied (they create the teams).
"""

from __future__ import annotations

from refdesk.accounts.choices import Role
from refdesk.routing.tests.builders import staff

PERSONAS = {
    "agent": (Role.PATIENT_SERVICES_AGENT, ["patient-services"]),
    "coordinator": (Role.CLINICAL_OPS_COORDINATOR, ["clinical-ops"]),
    "specialist": (Role.MEDICAL_AFFAIRS_SPECIALIST, ["medical-affairs"]),
    "reviewer": (Role.MEDICAL_REVIEWER, ["medical-affairs"]),
    "rep": (Role.COMMERCIAL_REP, ["commercial"]),
    "owner": (Role.PROGRAM_OWNER, ["clinical-ops", "medical-affairs", "patient-services"]),
    "auditor": (Role.COMPLIANCE_AUDITOR, []),
    "admin": (Role.ADMINISTRATOR, []),
}


def make_personas() -> dict:
    """{persona name: User}; usernames are prefixed so they never clash with demo users."""
    return {name: staff(f"p-{name}", role, *teams) for name, (role, teams) in PERSONAS.items()}
