"""Django admin actions that ask for input first (a reason, a duration) and then call a service
once per selected row — the same service the API calls, so audit rows, events and
notifications are the same whichever door an admin uses."""
from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from core.errors import ServiceError


def form_action(modeladmin, request, queryset, *, form_class, title: str, noun: str,
                call: Callable[[int, object, object], object]):
    """Render `form_class` for the selected rows; once submitted and valid, run
    `call(pk, actor, form)` for each and report successes and refusals (ServiceError messages).
    Returns the intermediate page, or None to go back to the change list."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        done, failed = 0, []
        for pk in queryset.values_list("pk", flat=True):
            try:
                call(pk, request.user, form)
                done += 1
            except ServiceError as exc:
                failed.append(f"#{pk}: {exc.message}")
        if done:
            modeladmin.message_user(request, f"{title}: {done} {noun}(s).", messages.SUCCESS)
        for line in failed:
            modeladmin.message_user(request, line, messages.ERROR)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "action": request.POST.get("action"),
        "opts": modeladmin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/dgt/action_form.html", context)
