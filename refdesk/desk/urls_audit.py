"""The auditor's pages under /desk/audit/ (compliance auditor and administrator). A referral's
history is addressed by its reference (not patient data); a verification run by its UUID."""

from django.urls import path

from refdesk.desk import views_audit

urlpatterns = [
    path("audit/", views_audit.audit_search, name="audit_search"),
    path("audit/export", views_audit.audit_export, name="audit_export"),
    path("audit/referrals/<str:reference>/", views_audit.audit_referral, name="audit_referral"),
    path("audit/verify", views_audit.audit_verify, name="audit_verify"),
    path("audit/verify/start", views_audit.audit_verify_start, name="audit_verify_start"),
    path(
        "audit/verify/<uuid:public_id>",
        views_audit.audit_verification,
        name="audit_verification",
    ),
]
