"""Account writes: block, unblock, automatic unblock, role changes (docs/access-and-hardening.md).

Every write owns its transaction, locks the target user row, writes one AuditLog row and asks the
user's open sockets to re-check themselves after commit (`outbox.control.sockets_recheck`): a
blocked user's sockets close with 4003, a demoted moderator's sockets that are in `admin` close
with 4003 too (the client reconnects and joins only its own groups).

Rules (docs/access-and-hardening.md): only admins block, unblock and change roles; nobody blocks or re-roles
themselves; acting on another admin needs a superuser. Errors: `NotFound` (404), `Forbidden`
(403), `ValidationFailed` (400), `Conflict` (409).

Automatic unblocks (a block whose `block_until` has passed, lifted at authentication or by the
hourly job) are audited as `user.unblock` by the system user `SYSTEM_USERNAME` (inactive, no
password: it can never sign in) with `metadata.automatic = true`; AuditLog.user stays required.
"""
from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from audit.services import audit_record
from core.errors import Conflict, ErrorCode, Forbidden, NotFound, ValidationFailed
from outbox.control import sockets_recheck

from .events import publish_user_blocked
from .models import STAFF_ROLES, Role, User

SYSTEM_USERNAME = "system@dgt"
_ROLE_RANK = {Role.USER: 0, Role.MODERATOR: 1, Role.ADMIN: 2}
REASON_MAX = 500


def system_user() -> User:
    """The inactive user that automatic actions are audited as (created on first use)."""
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "role": Role.USER}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _target_locked(user_id: int) -> User:
    try:
        return User.objects.select_for_update().get(pk=user_id)
    except User.DoesNotExist:
        raise NotFound("User not found.") from None


def _check_may_act_on(actor: User, target: User, verb: str) -> None:
    if not (actor.is_active and actor.is_admin):
        raise Forbidden(f"Only admins can {verb} users.")
    if target.pk == actor.pk:
        raise Forbidden(f"You cannot {verb} yourself.", code=ErrorCode.CANNOT_ACT_ON_SELF)
    if target.is_admin and not actor.is_superuser:
        raise Forbidden(f"Only a superuser can {verb} another admin.", code=ErrorCode.TARGET_IS_ADMIN)


def _clean_reason(reason: str | None, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationFailed.required("reason", "A reason is required.")
    if len(reason) > REASON_MAX:
        raise ValidationFailed(f"Reason is too long (max {REASON_MAX}).", fields={"reason": f"At most {REASON_MAX} characters."})
    return reason


def _blacklist_refresh_tokens(user: User) -> int:
    """Blacklist every unexpired refresh token issued to `user`; returns how many were added."""
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(),
                                                  blacklistedtoken__isnull=True)
    return len(BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in outstanding],
                                                    ignore_conflicts=True))


@transaction.atomic
def user_block(*, user_id: int, actor: User, reason: str, until: datetime | None = None,
               replace: bool = False) -> User:
    """Block user `user_id` until `until` (aware datetime in the future; None = indefinitely).

    Sets blocked_at (now, UTC), block_until, block_reason; blacklists the user's refresh tokens;
    writes AuditLog `user.block`; publishes `users.blocked` to `admin`; after commit closes the
    user's open sockets (4003).

    A user already blocked is refused with Conflict `already_blocked` (409), so a second admin
    (or a retried request) never silently shortens or lengthens a block; with `replace=True` the
    new reason and end replace the old ones and the audit row keeps the old block under
    `metadata.previous` (docs/access-and-hardening.md, "Blocking a blocked user").
    Raises NotFound, Forbidden (not an admin, self, another admin without superuser),
    ValidationFailed (empty reason, `until` not in the future or naive), Conflict.
    """
    reason = _clean_reason(reason, required=True)
    now = timezone.now()
    if until is not None and (timezone.is_naive(until) or until <= now):
        raise ValidationFailed("until must be a future date-time with a time zone.",
                               fields={"until": "Must be in the future (ISO 8601 with offset)."})
    target = _target_locked(user_id)
    _check_may_act_on(actor, target, "block")
    previous = None
    if target.is_blocked(now):
        if not replace:
            raise Conflict("This user is already blocked; send replace: true to replace the block.",
                           code=ErrorCode.ALREADY_BLOCKED)
        previous = {"blockedAt": target.blocked_at.isoformat(), "reason": target.block_reason,
                    "blockUntil": target.block_until.isoformat() if target.block_until else None}
    target.blocked_at = now
    target.block_until = until
    target.block_reason = reason
    target.save(update_fields=["blocked_at", "block_until", "block_reason"])
    revoked = _blacklist_refresh_tokens(target)
    audit_record(action="user.block", entity_type="user", entity_id=target.pk, user=actor, reason=reason,
                 metadata={"blockUntil": until.isoformat() if until else None, "refreshTokensRevoked": revoked,
                           **({"previous": previous} if previous else {})})
    publish_user_blocked(target, actor=actor)
    sockets_recheck(user_id=target.pk)
    return target


def _lift(target: User, *, actor: User, reason: str, automatic: bool) -> None:
    previous = {"blockedAt": target.blocked_at.isoformat(), "blockUntil": target.block_until.isoformat()
                if target.block_until else None, "blockReason": target.block_reason}
    target.blocked_at = None
    target.block_until = None
    target.block_reason = ""
    target.save(update_fields=["blocked_at", "block_until", "block_reason"])
    audit_record(action="user.unblock", entity_type="user", entity_id=target.pk, user=actor, reason=reason,
                 metadata={**previous, "automatic": automatic})
    publish_user_blocked(target, actor=actor)


@transaction.atomic
def user_unblock(*, user_id: int, actor: User, reason: str = "") -> User:
    """Lift the block of user `user_id` now. Writes AuditLog `user.unblock` and publishes
    `users.blocked` (with `blocked: false`) to `admin`. Refresh tokens revoked by the block stay
    revoked: the user signs in again. Raises NotFound, Forbidden (as for blocks), Conflict
    `not_blocked` when no block is recorded."""
    reason = _clean_reason(reason, required=False)
    target = _target_locked(user_id)
    _check_may_act_on(actor, target, "unblock")
    if target.blocked_at is None:
        raise Conflict("This user is not blocked.", code=ErrorCode.NOT_BLOCKED)
    _lift(target, actor=actor, reason=reason, automatic=False)
    return target


@transaction.atomic
def user_block_expire(*, user_id: int) -> bool:
    """Record the end of user `user_id`'s block if its block_until has passed; True if lifted.

    Idempotent and safe to run concurrently (row lock; a second caller finds nothing to do).
    Audited as `user.unblock` by the system user with `metadata.automatic = true`.
    """
    now = timezone.now()
    target = User.objects.select_for_update().filter(pk=user_id, blocked_at__isnull=False,
                                                     block_until__lte=now).first()
    if target is None:
        return False
    _lift(target, actor=system_user(), reason="Block period ended.", automatic=True)
    return True


@transaction.atomic
def user_role_set(*, user_id: int, actor: User, role: str, reason: str = "") -> User:
    """Give user `user_id` the role `role` (user, moderator, admin); is_staff follows (staff roles
    may sign in to Django admin). Writes AuditLog `user.role_set` with the old and new role and,
    after commit, makes the user's open sockets re-check: a demoted moderator's `admin` socket
    closes (4003) and the approve/reject endpoints refuse them at once (role read per request).
    A demotion also revokes every refresh token of the user (`refreshTokensRevoked` in the audit).
    Granting or removing `admin` needs a superuser. Raises NotFound, Forbidden, ValidationFailed
    (unknown role), Conflict `no_change` when the user already has `role`."""
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", fields={"role": f"One of: {', '.join(Role.values)}."})
    reason = _clean_reason(reason, required=False)
    target = _target_locked(user_id)
    _check_may_act_on(actor, target, "change the role of")
    if role == Role.ADMIN and not actor.is_superuser:
        raise Forbidden("Only a superuser can make an admin.", code=ErrorCode.TARGET_IS_ADMIN)
    if target.role == role:
        raise Conflict(f"This user is already {role}.", code=ErrorCode.NO_CHANGE)
    old = target.role
    target.role = role
    target.is_staff = role in STAFF_ROLES
    target.save(update_fields=["role", "is_staff"])
    # A demotion ends every session of the old role: refresh tokens minted before it (or racing
    # it: token mints lock this row too) are revoked and the user signs in again.
    revoked = _blacklist_refresh_tokens(target) if _ROLE_RANK[role] < _ROLE_RANK[old] else 0
    audit_record(action="user.role_set", entity_type="user", entity_id=target.pk, user=actor, reason=reason,
                 metadata={"from": old, "to": role, "refreshTokensRevoked": revoked})
    sockets_recheck(user_id=target.pk)
    return target


ADMIN_EDITABLE_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_superuser")


@transaction.atomic
def user_update(*, user_id: int, actor: User, changes: dict) -> User:
    """Apply `changes` (a subset of ADMIN_EDITABLE_FIELDS: names, e-mail, is_active, is_superuser)
    to user `user_id`, as Django admin's change form does. Writes AuditLog `user.update` with the
    names of the fields that changed (not their values: e-mail and names are personal data); when
    `is_active` changed, the user's open sockets re-check after commit (a deactivated user's close
    with 4003, like a block). Role and block change only through their own services. Saving
    identical values writes nothing. Raises NotFound, ValidationFailed for another field."""
    unknown = sorted(set(changes) - set(ADMIN_EDITABLE_FIELDS))
    if unknown:
        raise ValidationFailed(f"Not editable here: {', '.join(unknown)}.", fields={f: "Not editable." for f in unknown})
    target = _target_locked(user_id)
    changed = [f for f in ADMIN_EDITABLE_FIELDS if f in changes and getattr(target, f) != changes[f]]
    if not changed:
        return target
    for field in changed:
        setattr(target, field, changes[field])
    target.save(update_fields=changed)
    audit_record(action="user.update", entity_type="user", entity_id=target.pk, user=actor,
                 metadata={"fields": changed})
    if "is_active" in changed:
        sockets_recheck(user_id=target.pk)
    return target


@transaction.atomic
def user_create_in_admin(*, user: User, actor: User) -> User:
    """Save `user`, built by Django admin's add form (password already hashed), and write AuditLog
    `user.create`. New users get the `user` role; roles change through `user_role_set`."""
    user.save()
    audit_record(action="user.create", entity_type="user", entity_id=user.pk, user=actor,
                 metadata={"username": user.username})
    return user

