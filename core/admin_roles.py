"""Django admin access by marketplace role (docs/access-and-hardening.md), read from the user row.

A ModelAdmin lists, per operation, the lowest role allowed: "moderator" (moderators and admins),
"admin" (admins and Django superusers), "superuser", or None (nobody). Admin actions call the
same services as the API, which check again.
"""
from __future__ import annotations

from django.contrib import admin

from .db import lag_tolerant_reads


def role_allows(user, role: str | None) -> bool:
    """Whether an active `user` holds `role` or a higher one."""
    if role is None or not user.is_active:
        return False
    if role == "superuser":
        return user.is_superuser
    if role == "admin":
        return user.is_superuser or getattr(user, "is_admin", False)
    if role == "moderator":
        return user.is_superuser or getattr(user, "is_moderator", False)
    raise ValueError(f"unknown role {role!r}")


class LagTolerantChangelistMixin:
    """A ModelAdmin whose list page (GET: rows, counts, filters) may be read from the replica
    (core.db, docs/operations.md). Actions posted from the list page, forms and saves read the primary."""

    def changelist_view(self, request, extra_context=None):
        if request.method != "GET":
            return super().changelist_view(request, extra_context)
        with lag_tolerant_reads():
            return super().changelist_view(request, extra_context)


class RoleAdminMixin(LagTolerantChangelistMixin):
    """Mix into a ModelAdmin and set the four roles below (list pages may read the replica)."""

    view_role: str | None = "admin"
    add_role: str | None = "admin"
    change_role: str | None = "admin"
    delete_role: str | None = "admin"

    def has_module_permission(self, request):
        return role_allows(request.user, self.view_role)

    def has_view_permission(self, request, obj=None):
        return role_allows(request.user, self.view_role)

    def has_add_permission(self, request):
        return role_allows(request.user, self.add_role)

    def has_change_permission(self, request, obj=None):
        return role_allows(request.user, self.change_role)

    def has_delete_permission(self, request, obj=None):
        return role_allows(request.user, self.delete_role)


class ReadOnlyAdmin(RoleAdminMixin, admin.ModelAdmin):
    """A ModelAdmin admins (role) may look at and nobody may add to, edit or delete from: logs and
    ledgers (wallet, notifications, outbox). Changes go through the apps' services (admin actions)."""

    view_role = "admin"
    add_role = None
    change_role = None
    delete_role = None
