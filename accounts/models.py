"""Users of the marketplace: sellers and buyers (`user`), moderators and admins."""
from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    USER = "user", "User"
    MODERATOR = "moderator", "Moderator"
    ADMIN = "admin", "Admin"


STAFF_ROLES = frozenset({Role.MODERATOR, Role.ADMIN})


class User(AbstractUser):
    """A person who signs in. `role` decides what the API allows; it is read from this row on
    every request and websocket connect, never from the token alone.

    Block fields follow the seed schema: `blocked_at` set means blocked until `block_until`
    (None = indefinitely). Times are aware, stored in UTC.
    """

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER, db_index=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    block_until = models.DateTimeField(null=True, blank=True)
    block_reason = models.CharField(max_length=500, blank=True, default="")

    @property
    def is_moderator(self) -> bool:
        """True for moderators and admins (both may moderate listings)."""
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def is_blocked(self, at=None) -> bool:
        """Whether a block is in force at `at` (default now). An expired block counts as lifted."""
        if self.blocked_at is None:
            return False
        return self.block_until is None or self.block_until > (at or timezone.now())

    @property
    def groups_for_events(self) -> list[str]:
        """The realtime groups this user's sockets join: `user.<id>`, `public` (banners and other
        broadcasts, docs/realtime.md), plus `admin` for staff."""
        groups = [f"user.{self.pk}", "public"]
        if self.is_moderator:
            groups.append("admin")
        return groups
