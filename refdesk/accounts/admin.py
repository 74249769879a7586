from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from refdesk.accounts.models import Team, TeamMembership, User


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "role", "is_active"]
    list_filter = ["role", "is_active"]
    fieldsets = [*DjangoUserAdmin.fieldsets, ("refdesk", {"fields": ["role"]})]
    inlines = [MembershipInline]


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
