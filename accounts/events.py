"""Events the accounts app emits (docs/realtime.md)."""
from outbox.services import GROUP_ADMIN, publish

USERS_BLOCKED = "users.blocked"


def user_block_payload(user) -> dict:
    """`{userId, username, blocked, blockedAt, blockUntil, reason}` (times ISO 8601 UTC)."""
    return {
        "userId": user.pk,
        "username": user.username,
        "blocked": user.blocked_at is not None,
        "blockedAt": user.blocked_at,
        "blockUntil": user.block_until,
        "reason": user.block_reason,
    }


def publish_user_blocked(user, *, actor) -> None:
    """`users.blocked` to the `admin` room after a block or unblock. Inside the transaction."""
    publish(channel=USERS_BLOCKED, groups=[GROUP_ADMIN], data={**user_block_payload(user), "actorId": actor.pk})
