"""Unmanaged copies of the dgt tables the peer writes (the columns it sets; the rest have values)."""
from decimal import Decimal

from django.db import models


class Listing(models.Model):
    owner_id = models.BigIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField()
    category = models.CharField(max_length=32)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=16)
    reason = models.TextField()
    approved_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField(null=True)
    reminder_sent_3d = models.BooleanField()
    reminder_sent_1d = models.BooleanField()
    expired_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "listings_listing"


class AuditLog(models.Model):
    action = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=64)
    user_id = models.BigIntegerField()
    reason = models.TextField(default="")
    metadata = models.JSONField(default=dict)
    ip_address = models.GenericIPAddressField(null=True)
    request_id = models.CharField(max_length=128, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        managed = False
        db_table = "audit_auditlog"


class EventOutbox(models.Model):
    channel = models.CharField(max_length=64)
    group = models.CharField(max_length=100)
    payload = models.JSONField()
    request_id = models.CharField(max_length=128, default="")
    status = models.CharField(max_length=8, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(default="")
    sent_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        managed = False
        db_table = "outbox_eventoutbox"


class Wallet(models.Model):
    user_id = models.BigIntegerField(primary_key=True)
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        managed = False
        db_table = "wallet_wallet"


class Transaction(models.Model):
    kind = models.CharField(max_length=24)
    wallet_id = models.BigIntegerField(null=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    ref_id = models.CharField(max_length=100, default="")
    reason = models.TextField(default="")
    idempotency_key = models.CharField(max_length=255, default="")
    unique_key = models.CharField(max_length=150, null=True)
    created_by_id = models.BigIntegerField(null=True)
    request_id = models.CharField(max_length=128, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        managed = False
        db_table = "wallet_transaction"


class Posting(models.Model):
    transaction_id = models.BigIntegerField()
    account = models.CharField(max_length=24)
    wallet_id = models.BigIntegerField(null=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        managed = False
        db_table = "wallet_posting"


class IdempotencyKey(models.Model):
    owner_id = models.BigIntegerField()
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16)
    lock_token = models.CharField(max_length=32)
    locked_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "wallet_idempotencykey"
