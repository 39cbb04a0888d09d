"""What a provider adapter raises and returns.

Adapters translate their SDK's errors into two kinds: transient (network, 5xx, 429, quota —
the send is retried with backoff) and permanent (the recipient cannot receive it — the
notification is marked failed, and `recipient_invalid` tells the caller to deactivate the
device or phone number).
"""
from __future__ import annotations

from dataclasses import dataclass, field


class ProviderError(Exception):
    pass


class TransientProviderError(ProviderError):
    """Try again later (network error, provider 5xx or 429, quota exceeded)."""


class PermanentProviderError(ProviderError):
    """Will never succeed as addressed. `recipient_invalid`: the token/number/address itself is
    bad (unregistered token, unsubscribed or invalid number) and must not be used again."""

    def __init__(self, message: str, *, recipient_invalid: bool = False):
        super().__init__(message)
        self.recipient_invalid = recipient_invalid


@dataclass
class PushResult:
    """Per-token outcome of one multicast push: `sent` tokens were accepted, `invalid` tokens
    are permanently bad (deactivate their devices), `transient` tokens may succeed on retry."""

    sent: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)
    transient: dict[str, str] = field(default_factory=dict)
