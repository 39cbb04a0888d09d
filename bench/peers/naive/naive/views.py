"""The naive views: parse JSON by hand, write with the ORM in one transaction, answer JsonResponse."""
import hashlib
import json
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import AuditLog, EventOutbox, IdempotencyKey, Listing, Posting, Transaction, Wallet

ADMIN_ID = 1  # no authentication: the actor recorded in the audit row


def healthz(request):
    return JsonResponse({"status": "ok"})


def _listing(l: Listing) -> dict:
    return {"id": l.pk, "ownerId": l.owner_id, "title": l.title, "description": l.description,
            "category": l.category, "price": str(l.price), "status": l.status, "reason": l.reason,
            "approvedAt": l.approved_at, "expiresAt": l.expires_at, "expiredAt": l.expired_at,
            "reminderSent3d": l.reminder_sent_3d, "reminderSent1d": l.reminder_sent_1d,
            "createdAt": l.created_at, "updatedAt": l.updated_at}


@csrf_exempt
def approve(request, listing_id: int):
    body = json.loads(request.body or b"{}")
    days = int(body.get("expiryDays", 30))
    now = timezone.now()
    with transaction.atomic():
        listing = Listing.objects.select_for_update().get(pk=listing_id)
        if listing.status != "pending":
            return JsonResponse({"error": "not pending"}, status=409)
        listing.status, listing.reason = "approved", body.get("reason", "")
        listing.approved_at, listing.expires_at, listing.updated_at = now, now + timedelta(days=days), now
        listing.save(update_fields=["status", "reason", "approved_at", "expires_at", "updated_at"])
        data = _listing(listing)
        AuditLog.objects.create(action="listing.approve", entity_type="listing", entity_id=str(listing.pk),
                                user_id=ADMIN_ID, metadata={"expiryDays": days})
        EventOutbox.objects.create(channel="listings.update", group=f"user.{listing.owner_id}",
                                   payload=json.loads(json.dumps(data, default=str)), next_attempt_at=now)
    return JsonResponse(data)


@csrf_exempt
def refund(request):
    body = json.loads(request.body)
    key = request.headers["Idempotency-Key"]
    user_id, amount = int(body["userId"]), Decimal(str(body["amount"]))
    now = timezone.now()
    with transaction.atomic():
        idem = IdempotencyKey.objects.create(owner_id=ADMIN_ID, key=key, status="in_flight", lock_token="x",
                                             fingerprint=hashlib.sha256(request.body).hexdigest(), locked_at=now,
                                             created_at=now)
        tx = Transaction.objects.create(kind="refund", wallet_id=user_id, amount=amount, ref_id=body["refId"],
                                        reason=body["reason"], idempotency_key=key, created_by_id=ADMIN_ID)
        Posting.objects.bulk_create([Posting(transaction_id=tx.pk, account="wallet", wallet_id=user_id, amount=amount),
                                     Posting(transaction_id=tx.pk, account="refunds", amount=-amount)])
        Wallet.objects.filter(pk=user_id).update(balance=F("balance") + amount, updated_at=now)
        balance = Wallet.objects.get(pk=user_id).balance
        AuditLog.objects.create(action="wallet.refund", entity_type="wallet", entity_id=str(user_id),
                                user_id=ADMIN_ID, reason=body["reason"], metadata={"amount": str(amount)})
        data = {"transactionId": tx.pk, "userId": user_id, "amount": str(amount), "balance": str(balance),
                "refId": tx.ref_id, "reason": tx.reason, "createdAt": tx.created_at.isoformat()}
        EventOutbox.objects.create(channel="wallet.balance", group=f"user.{user_id}", payload=data, next_attempt_at=now)
        IdempotencyKey.objects.filter(pk=idem.pk).update(status="completed", response_status=201, response_body=data)
    return JsonResponse(data, status=201)


def wallet(request):
    w = Wallet.objects.get(pk=int(request.GET["user"]))
    return JsonResponse({"userId": w.user_id, "balance": str(w.balance), "currency": w.currency})


def listings(request):
    qs = Listing.objects.filter(owner_id=int(request.GET["user"])).order_by("-id")
    return JsonResponse({"count": qs.count(), "next": None, "previous": None,
                         "results": [_listing(l) for l in qs[:20]]})
