"""`manage.py ledger_check`: prove the books balance (docs/wallet.md).

Checks that every wallet's cached balance equals the sum of its postings, and that every journal
entry's postings sum to zero. Prints totals per account and exits 0 when all holds; otherwise
names each offending wallet / entry and exits 1.
"""
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Sum

from wallet.models import Account, Posting, Transaction, Wallet


class Command(BaseCommand):
    help = "Check cached wallet balances against postings and that every transaction sums to zero."

    def handle(self, *args, **options):
        problems: list[str] = []
        sums = dict(Posting.objects.filter(account=Account.WALLET).values_list("wallet_id")
                    .annotate(total=Sum("amount")).order_by())
        wallets = 0
        for user_id, username, balance in Wallet.objects.values_list("user_id", "user__username", "balance").order_by("pk"):
            wallets += 1
            posted = Decimal(str(sums.pop(user_id, None) or "0.00")).quantize(Decimal("0.01"))
            if posted != balance:
                problems.append(f"wallet {user_id} ({username}): cached balance {balance}, postings sum {posted}")
        for user_id, total in sums.items():
            problems.append(f"wallet {user_id}: postings sum {total} but no wallet row")
        per_tx = Posting.objects.values("transaction_id").annotate(total=Sum("amount")).order_by("transaction_id")
        if connection.vendor == "postgresql":
            unbalanced = per_tx.exclude(total=0)[:100]
        else:  # SQLite sums decimals as floats: compare after Django has quantized them to 2 places
            unbalanced = [row for row in per_tx.iterator() if row["total"] != 0][:100]
        for row in unbalanced:
            total = Decimal(str(row["total"])).quantize(Decimal("0.01"))
            problems.append(f"transaction {row['transaction_id']}: postings sum to {total}, not 0.00")
        empty = Transaction.objects.filter(postings__isnull=True).values_list("pk", flat=True)[:100]
        problems += [f"transaction {pk}: has no postings" for pk in empty]

        totals = dict(Posting.objects.values_list("account").annotate(total=Sum("amount")).order_by())
        self.stdout.write(f"wallets: {wallets}, transactions: {Transaction.objects.count()}, "
                          f"postings: {Posting.objects.count()}")
        for account in Account:
            total = Decimal(str(totals.get(account.value) or "0.00")).quantize(Decimal("0.01"))
            self.stdout.write(f"  {account.value:18} {total:>18}")
        grand = sum((Decimal(str(v)) for v in totals.values()), Decimal("0.00")).quantize(Decimal("0.01"))
        self.stdout.write(f"  {'sum':18} {grand:>18}")
        if problems:
            for line in problems:
                self.stderr.write(f"MISMATCH {line}")
            raise CommandError(f"ledger_check failed: {len(problems)} problem(s)")
        self.stdout.write(self.style.SUCCESS("ledger_check: OK, every balance matches its postings and every "
                                             "transaction sums to zero"))
