"""The admin for users, teams and authenticators. Every change made here is audited in the same
transaction as the change (the admin wraps each add, change and delete in one): user fields
that decide access (role, active, staff, superuser, names, email), teams, groups, permissions,
passwords set by an administrator, deletions, and authenticators removed to reset someone's
MFA. The admin's own LogEntry is no audit trail: it is editable, unchained and skips inlines.
"""

from allauth.mfa.admin import AuthenticatorAdmin as AllauthAuthenticatorAdmin
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction

from refdesk.accounts.models import Team, TeamMembership, User
from refdesk.accounts.services import (
    team_members_changes_record,
    team_members_snapshot,
    user_access_snapshot,
    user_changes_record,
    user_deletion_record,
)
from refdesk.audit.services import audit_record

VIA_ADMIN = "Django admin"
# Set by save_model, read by save_related of the same request: the user as it was.
_BEFORE = "_refdesk_user_before"


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    # Written by automatic assignment; not something to edit by hand.
    exclude = ["last_assigned_at"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "role", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = [*DjangoUserAdmin.fieldsets, ("refdesk", {"fields": ["role"]})]
    # A new account gets its role and address on the first page, not in a second edit.
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["username", "email", "role"]}),
        (
            "Password",
            {"classes": ["wide"], "fields": ["usable_password", "password1", "password2"]},
        ),
    ]
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        # The stored user, before the form's values are saved over it.
        before = user_access_snapshot(User.objects.get(pk=obj.pk)) if change else None
        setattr(request, _BEFORE, before)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        # Groups, permissions and team memberships are saved here, after the user: audit once
        # all of it is stored, as one event.
        super().save_related(request, form, formsets, change)
        user_changes_record(
            user=form.instance,
            before=getattr(request, _BEFORE, None),
            actor=request.user,
            via=VIA_ADMIN,
        )

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            before = User.objects.filter(pk=id).values_list("password", flat=True).first()
            response = super().user_change_password(request, id, form_url)
            user = User.objects.filter(pk=id).first()
            if user is not None and before is not None and user.password != before:
                audit_record(
                    actor=request.user,
                    action="auth.password_changed",
                    subject=user,
                    changes={
                        "how": (None, "set_by_administrator"),
                        "password": (None, "usable" if user.has_usable_password() else "unusable"),
                    },
                    reason=VIA_ADMIN,
                )
            return response

    def delete_model(self, request, obj):
        user_deletion_record(user=obj, actor=request.user, via=VIA_ADMIN)
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for user in queryset:
            user_deletion_record(user=user, actor=request.user, via=VIA_ADMIN)
        super().delete_queryset(request, queryset)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Teams come from program definitions; membership is managed here."""

    list_display = ["slug", "name", "timezone"]
    readonly_fields = ["slug", "name", "timezone"]
    inlines = [MembershipInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_related(self, request, form, formsets, change):
        before = team_members_snapshot(form.instance)
        super().save_related(request, form, formsets, change)
        team_members_changes_record(
            team=form.instance, before=before, actor=request.user, via=VIA_ADMIN
        )


# Importing allauth's admin module (above) registered its own; replace it with the audited one.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(AllauthAuthenticatorAdmin):
    """An administrator deletes a user's authenticator to reset their MFA (they enrol again at
    the next sign-in): audited on the user, never with the secret."""

    def _record(self, request, authenticator, action: str) -> None:
        audit_record(
            actor=request.user,
            action=action,
            subject=authenticator.user,
            changes={"authenticator": (None, authenticator.type)},
            reason=VIA_ADMIN,
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._record(request, obj, "user.mfa_changed" if change else "user.mfa_added")

    def delete_model(self, request, obj):
        self._record(request, obj, "user.mfa_removed")
        super().delete_model(request, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for authenticator in queryset.select_related("user"):
            self._record(request, authenticator, "user.mfa_removed")
        super().delete_queryset(request, queryset)
