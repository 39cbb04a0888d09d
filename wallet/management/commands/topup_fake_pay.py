"""`manage.py topup_fake_pay <orderId>`: pay a top-up order with the fake gateway, as a customer
would in Razorpay Checkout (embedded mode and demos only; refused when Razorpay is configured).

Prints `{"paymentId": ..., "signature": ...}`, the two values Checkout hands the app, to send to
`POST /api/wallet/topups/{orderId}/verify`. `--webhook` also delivers the `payment.captured`
webhook Razorpay would send (signed with RAZORPAY_WEBHOOK_SECRET), so either path can be tried,
or both: the order is credited once (docs/wallet.md "Top-ups").
"""
import hashlib
import hmac
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from wallet.fields import to_paise
from wallet.gateways import get_gateway
from wallet.gateways.fake import FakeGateway
from wallet.models import TopupOrder
from wallet.services.webhooks import webhook_receive


class Command(BaseCommand):
    help = "Pay a top-up order with the fake gateway; print the paymentId and signature to verify with."

    def add_arguments(self, parser):
        parser.add_argument("order_id", help="orderId from POST /api/wallet/topups")
        parser.add_argument("--status", default="captured", choices=["captured", "authorized", "failed"],
                            help="the payment's status at the gateway (default captured)")
        parser.add_argument("--webhook", action="store_true", help="also deliver the payment.captured webhook")

    def handle(self, *args, order_id, status, webhook, **options):
        if not isinstance(get_gateway(), FakeGateway):
            raise CommandError("Razorpay is configured (RAZORPAY_KEY_ID): pay in Razorpay Checkout instead.")
        order = TopupOrder.objects.filter(gateway_order_id=order_id).first()
        if order is None:
            raise CommandError(f"No top-up order {order_id}.")
        payment_id, signature = FakeGateway.payment_make(order_id=order_id, amount=order.amount, status=status)
        self.stdout.write(json.dumps({"paymentId": payment_id, "signature": signature}))
        if webhook:
            entity = {"id": payment_id, "entity": "payment", "amount": to_paise(order.amount), "currency": "INR",
                      "status": status, "order_id": order_id, "notes": {"userId": str(order.user_id)}}
            event = "payment.captured" if status == "captured" else "payment.failed"
            body = json.dumps({"entity": "event", "event": event, "contains": ["payment"],
                               "payload": {"payment": {"entity": entity}}}).encode()
            signed = hmac.new(settings.RAZORPAY_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            outcome = webhook_receive(body=body, signature=signed, event_id=f"evt_fake_{payment_id}")
            self.stderr.write(f"webhook {event}: {outcome}")
