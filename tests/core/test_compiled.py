"""core.compiled.CompiledGet: the same instance as QuerySet.get(), from SQL compiled once."""
from __future__ import annotations

import pytest
from django.db.models import Q

from accounts.models import Role, User
from core.compiled import CompiledGet
from wallet.models import Wallet


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.mark.django_db
def test_it_returns_what_the_orm_returns_with_the_related_row_and_converted_values(make_user,
                                                                                  django_assert_num_queries):
    users = [make_user(Role.USER, username=f"c{i}") for i in range(3)]
    Wallet.objects.create(user=users[0], balance="12.50")
    query = CompiledGet(User, lambda pk: User.objects.select_related("wallet").filter(pk=pk, is_active=True))
    for user in users:
        expected = User.objects.select_related("wallet").get(pk=user.pk, is_active=True)
        with django_assert_num_queries(1):
            got = query.get(user.pk)
            assert _fields(got) == _fields(expected)
            assert got._state.db == expected._state.db and not got._state.adding
            if user is users[0]:  # the joined row, with the money field's converter applied
                assert got.wallet.balance == expected.wallet.balance and str(got.wallet.balance) == "12.50"
                assert _fields(got.wallet) == _fields(expected.wallet)
            else:  # no wallet: the cached absence, as select_related leaves it
                with pytest.raises(Wallet.DoesNotExist):
                    got.wallet  # noqa: B018
    assert len(query.plans) == 1  # compiled once


@pytest.mark.django_db
def test_no_row_raises_does_not_exist(make_user):
    gone = make_user(Role.USER, username="gone", is_active=False)
    query = CompiledGet(User, lambda pk: User.objects.filter(pk=pk, is_active=True))
    with pytest.raises(User.DoesNotExist):
        query.get(gone.pk)
    with pytest.raises(User.DoesNotExist):
        query.get(gone.pk + 1000)


@pytest.mark.django_db
def test_a_value_the_query_repeats_is_refused(make_user):
    user = make_user(Role.USER, username="twice")
    query = CompiledGet(User, lambda pk: User.objects.filter(Q(pk=pk) | Q(id=pk)))
    with pytest.raises(ValueError):
        query.get(user.pk)


@pytest.mark.django_db
def test_compiled_rows_return_what_values_list_returns_window_by_window(make_user, django_assert_num_queries):
    from core.compiled import CompiledRows

    users = [make_user(Role.USER, username=f"r{i}") for i in range(2)]
    for user, balance in zip(users, ("12.50", "0.05")):
        Wallet.objects.create(user=user, balance=balance)
    build = lambda pk: Wallet.objects.filter(user_id__gte=pk).order_by("-user_id").values_list("user_id", "balance")  # noqa: E731
    query = CompiledRows(Wallet, build)
    for offset, limit in ((0, 1), (1, 1), (0, 5), (2, 5)):
        with django_assert_num_queries(1):
            got = query.rows(users[0].pk, limit=limit, offset=offset)
        assert got == list(build(users[0].pk)[offset:offset + limit])
        assert all(type(row) is tuple for row in got)
    assert [str(b) for _, b in query.rows(users[0].pk, limit=5)] == ["0.05", "12.50"]  # the money converter ran
    assert len(query.plans) == 1
    with pytest.raises(ValueError):  # the window is rows()'s to add
        CompiledRows(Wallet, lambda pk: build(pk)[:3]).rows(users[0].pk, limit=1)
