"""Role permissions, read from the user row loaded for this request (docs/access-and-hardening.md)."""
from rest_framework.permissions import BasePermission


class IsModerator(BasePermission):
    """Moderators and admins: approve and reject listings."""

    message = "Moderator or admin role required."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_moderator)


class IsAdmin(BasePermission):
    """Admins only: refunds, blocks, banners, queues, outbox, audit log."""

    message = "Admin role required."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)
