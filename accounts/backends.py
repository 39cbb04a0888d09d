"""Session authentication (Django admin, the websocket's session path) that respects blocks.

Django loads a session's user through the backend's `get_user` on every request; returning None
for a blocked user makes their existing admin session anonymous at once (they are sent to the
login page), and the websocket's session path treats them as unauthenticated. An expired block is
lifted here as at JWT authentication. Password login itself is unchanged, so the token endpoint
can still answer 403 `user_blocked` rather than a vague 401.
"""
from django.contrib.auth.backends import ModelBackend

from .authentication import UserBlocked, check_not_blocked


class BlockAwareModelBackend(ModelBackend):
    def get_user(self, user_id):
        user = super().get_user(user_id)
        if user is None or user.blocked_at is None:
            return user
        try:
            check_not_blocked(user)
        except UserBlocked:
            return None
        return user
