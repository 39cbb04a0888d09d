"""factory-boy factories of the accounts app: `UserFactory` (password `PASSWORD`)."""
from __future__ import annotations

import factory

from accounts.models import Role, User

PASSWORD = "demo-pass-123"


class UserFactory(factory.django.DjangoModelFactory):
    """A user (role `user` unless given) whose password is `PASSWORD`; `password=None` gives an
    unusable password without hashing (for building many users at once)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.USER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()
