"""Django admin actions that ask for input first (a reason, a duration) and then call a service
once per selected row — the same service the API calls, so audit rows, events and
notifications are the same whichever door an admin uses."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from core.errors import ServiceError


def action_form(modeladmin, request, queryset, *, form_class, title: str, apply: Callable[[object], None],
                template: str = "admin/dgt/action_form.html", **form_kwargs):
    """The intermediate page of an action that asks for input: `form_class` (with `form_kwargs`,
    e.g. `initial=`) for the selected rows, rendered with `template` (which may extend
    admin/dgt/action_form.html and override its `row` block). Once submitted and valid, runs
    `apply(form)` and returns None to go back to the change list; else returns the page."""
    form = form_class(request.POST if "apply" in request.POST else None, **form_kwargs)
    if "apply" in request.POST and form.is_valid():
        apply(form)
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
    return TemplateResponse(request, template, context)


def run_each(modeladmin, request, pks: Iterable[int], call: Callable[[int], object], *,
             done: Callable[[int], str], refused_level: int = messages.ERROR) -> None:
    """`call(pk)` for each of `pks`; then reports `done(count)` (SUCCESS, when any succeeded) and
    one line per refusal, "#<pk>: <ServiceError message>", at `refused_level`. Other errors propagate."""
    count, refused = 0, []
    for pk in pks:
        try:
            call(pk)
            count += 1
        except ServiceError as exc:
            refused.append(f"#{pk}: {exc.message}")
    if count:
        modeladmin.message_user(request, done(count), messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, refused_level)


def form_action(modeladmin, request, queryset, *, form_class, title: str, noun: str,
                call: Callable[[int, object, object], object]):
    """Render `form_class` for the selected rows; once submitted and valid, run
    `call(pk, actor, form)` for each and report successes and refusals (ServiceError messages).
    Returns the intermediate page, or None to go back to the change list."""
    return action_form(modeladmin, request, queryset, form_class=form_class, title=title,
                       apply=lambda form: run_each(modeladmin, request, queryset.values_list("pk", flat=True),
                                                   lambda pk: call(pk, request.user, form),
                                                   done=lambda count: f"{title}: {count} {noun}(s)."))
