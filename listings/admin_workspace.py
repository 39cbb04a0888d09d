"""The moderation workspace in Django admin (docs/moderation.md): a queue page and a listing page.

Server-rendered views on the `ModerationQueue` proxy's admin URLs; every write goes through
listings.claims / listings.services, exactly as the API does. Live parts (claims and decisions
by others) come from listings/static/listings/moderation.js over the admin's session websocket.

URLs under /admin/listings/moderationqueue/: "" queue (GET, `?partial=1` the live part only),
"<id>/" listing page (GET), "<id>/claim/", "<id>/decide/", "<id>/release/", "next/" (POST).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework.exceptions import ValidationError

from core.admin_roles import RoleAdminMixin
from core.errors import ServiceError

from . import claims, services
from .admin_forms import ApproveForm, RejectForm
from .models import CannedReason, Listing, ModerationQueue
from .selectors import QueueFilters, moderation_next, moderation_queue, owner_decisions
from .serializers import QueueFilterSerializer

QUEUE_PAGE_SIZE = 50


def _decimal(raw: str | None) -> Decimal | None:
    """A price filter as the API reads `minPrice` (QueueFilterSerializer: finite, at most 2 places
    and 14 digits), else None: "NaN" or "Infinity" used to reach the price lookup and fail it."""
    if raw in (None, ""):
        return None
    try:
        return QueueFilterSerializer().fields["minPrice"].run_validation(raw)
    except ValidationError:
        return None


def _listing_id(raw: str | None) -> int | None:
    """A listing id from a form field: ASCII digits naming a bigint (str.isdigit also accepts "²",
    which int() refuses), else None."""
    if not (raw and len(raw) < 20 and raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value < 2**63 else None


def queue_filters(params) -> QueueFilters:
    """QueueFilters from the queue page's GET parameters (unknown or malformed values are ignored)."""
    category = params.get("category") or None
    return QueueFilters(category=category if category in settings.LISTING_CATEGORIES else None,
                        price_min=_decimal(params.get("min_price")), price_max=_decimal(params.get("max_price")),
                        new_sellers=params.get("new_sellers") == "1",
                        earlier_rejections=params.get("earlier_rejections") == "1")


def _claim_state(listing: Listing, user, now) -> dict:
    holder = listing.live_claimant_id(now)
    return {
        "mine": holder == user.pk,
        "other": holder is not None and holder != user.pk,
        "holder": listing.claimed_by if holder else None,
        "until": listing.claimed_until if holder else None,
    }


@admin.register(ModerationQueue)
class ModerationQueueAdmin(RoleAdminMixin, admin.ModelAdmin):
    """The queue (changelist) and listing page (change) of the moderation workspace."""

    view_role = "moderator"
    add_role = change_role = delete_role = None

    def get_urls(self):
        wrap = self.admin_site.admin_view
        name = "listings_moderationqueue"
        return [
            path("", wrap(self.queue_view), name=f"{name}_changelist"),
            path("next/", wrap(self.next_view), name=f"{name}_next"),
            path("<int:listing_id>/", wrap(self.review_view), name=f"{name}_change"),
            path("<int:listing_id>/claim/", wrap(self.claim_view), name=f"{name}_claim"),
            path("<int:listing_id>/decide/", wrap(self.decide_view), name=f"{name}_decide"),
            path("<int:listing_id>/release/", wrap(self.release_view), name=f"{name}_release"),
        ]

    # -- helpers ---------------------------------------------------------------------------------
    def _check(self, request, post: bool = False):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if post and request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        return None

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta,
                "claim_minutes": settings.MODERATION_CLAIM_MINUTES, "sla_seconds": settings.MODERATION_SLA_MINUTES * 60,
                "sla_minutes": settings.MODERATION_SLA_MINUTES, "is_admin": request.user.is_admin, **extra}

    def _run(self, request, call, success: str | None = None) -> bool:
        try:
            call()
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return False
        if success:
            self.message_user(request, success, messages.SUCCESS)
        return True

    @staticmethod
    def _url(name: str, *args) -> str:
        return reverse(f"admin:listings_moderationqueue_{name}", args=args)

    # -- pages -----------------------------------------------------------------------------------
    def queue_view(self, request):
        """The queue: pending listings oldest first with filters, ages against the SLA and claims."""
        self._check(request)
        now = timezone.now()
        filters = queue_filters(request.GET)
        page = Paginator(moderation_queue(filters=filters, now=now), QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
        rows = list(page.object_list)
        history = owner_decisions(owner_ids={row.owner_id for row in rows}, limit=5)
        new_since = now - timedelta(days=settings.MODERATION_NEW_SELLER_DAYS)
        items = [{"listing": row, "age": int((now - row.created_at).total_seconds()),
                  "claim": _claim_state(row, request.user, now), "history": history.get(row.owner_id, []),
                  "new_seller": row.owner.date_joined >= new_since} for row in rows]
        query = request.GET.copy()
        query.pop("page", None)
        query.pop("partial", None)
        context = self._context(request, title="Moderation queue", page=page, items=items, filters=filters,
                                categories=settings.LISTING_CATEGORIES, query=query.urlencode(), now=now)
        template = "queue_live.html" if request.GET.get("partial") == "1" else "queue.html"
        return TemplateResponse(request, f"admin/listings/moderation/{template}", context)

    def review_view(self, request, listing_id: int):
        """The listing page: the listing, its seller's earlier decisions, the claim and the decisions."""
        self._check(request)
        now = timezone.now()
        listing = get_object_or_404(Listing.objects.select_related("owner", "claimed_by"), pk=listing_id)
        context = self._context(
            request, title=f"Review listing #{listing.pk}", listing=listing, claim=_claim_state(listing, request.user, now),
            age=int((now - listing.created_at).total_seconds()), now=now,
            history=owner_decisions(owner_ids=[listing.owner_id]).get(listing.owner_id, []),
            own=listing.owner_id == request.user.pk, approve_form=ApproveForm(), reject_form=RejectForm(),
            canned=list(CannedReason.objects.filter(active=True)))
        return TemplateResponse(request, "admin/listings/moderation/review.html", context)

    # -- actions (POST) --------------------------------------------------------------------------
    def claim_view(self, request, listing_id: int):
        """Claim (or renew the claim on) a listing and open its page ("opening claims it")."""
        refused = self._check(request, post=True)
        if refused:
            return refused
        self._run(request, lambda: claims.listing_claim(listing_id=listing_id, actor=request.user))
        return redirect(self._url("change", listing_id))

    def release_view(self, request, listing_id: int):
        """Release the claim (the holder's own, or anyone's for an admin) and go back to the queue."""
        refused = self._check(request, post=True)
        if refused:
            return refused
        self._run(request, lambda: claims.listing_release(listing_id=listing_id, actor=request.user))
        return redirect(self._next_url(request) or self._url("changelist"))

    @staticmethod
    def _next_url(request) -> str | None:
        """The form's `next` when it is a path on this site, else None (never an open redirect)."""
        target = request.POST.get("next")
        if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                      require_https=request.is_secure()):
            return target
        return None

    def next_view(self, request):
        """Release the listing being skipped (if held) and claim the oldest unclaimed other one."""
        refused = self._check(request, post=True)
        if refused:
            return refused
        skip_id = _listing_id(request.POST.get("skip"))
        if skip_id is not None:
            self._run(request, lambda: claims.listing_release(listing_id=skip_id, actor=request.user))
        for _ in range(5):  # another moderator may claim our candidate first: take the next one
            candidate = moderation_next(actor=request.user, now=timezone.now(), skip_id=skip_id)
            if candidate is None:
                self.message_user(request, "No unclaimed listing is waiting.", messages.INFO)
                return redirect(self._url("changelist"))
            try:
                claims.listing_claim(listing_id=candidate.pk, actor=request.user)
            except ServiceError:
                continue
            return redirect(self._url("change", candidate.pk))
        return redirect(self._url("changelist"))

    def decide_view(self, request, listing_id: int):
        """Approve or reject (`decision`), through listings.services; back to the queue when done."""
        refused = self._check(request, post=True)
        if refused:
            return refused
        decision = request.POST.get("decision")
        if decision == "approve":
            form = ApproveForm(request.POST)
            call = lambda: services.listing_approve(  # noqa: E731
                listing_id=listing_id, actor=request.user, reason=form.cleaned_data["reason"],
                expiry_days=form.cleaned_data["expiry_days"])
        elif decision == "reject":
            form = RejectForm(request.POST)
            call = lambda: services.listing_reject(  # noqa: E731
                listing_id=listing_id, actor=request.user, reason=form.cleaned_data["reason"],
                reason_id=form.cleaned_data["reason_id"])
        else:
            return redirect(self._url("change", listing_id))
        if not form.is_valid():
            errors = "; ".join(" ".join(errs) for errs in form.errors.values())
            self.message_user(request, f"Not {decision}d: {errors}", messages.ERROR)
            return redirect(self._url("change", listing_id))
        if self._run(request, call, success=f"Listing #{listing_id} {decision}d."):
            return redirect(self._url("changelist"))
        return redirect(self._url("change", listing_id))
