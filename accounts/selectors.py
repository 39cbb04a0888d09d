"""Account reads."""
from django.db.models import QuerySet
from django.utils import timezone

from .models import User


def users_with_expired_block(*, at=None) -> QuerySet[User]:
    """Users still marked blocked whose block_until is at or before `at` (default now), by id."""
    return User.objects.filter(blocked_at__isnull=False, block_until__lte=at or timezone.now()).order_by("pk")
