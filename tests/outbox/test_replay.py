"""Replay reads (outbox.replay): many sockets' replays in one query give each socket exactly what
its own query gives (docs/realtime.md, "Connect path")."""
from __future__ import annotations

import random

import pytest

from outbox.models import EventOutbox
from outbox.replay import group_rows_after, group_rows_after_many
from outbox.services import publish

pytestmark = pytest.mark.django_db

GROUPS = ["user.1", "user.2", "user.3", "public", "admin"]


@pytest.fixture
def rows():
    rnd = random.Random(7)
    for i in range(60):
        publish(channel="listings.update", groups=[rnd.choice(GROUPS)], data={"i": i})
    return list(EventOutbox.objects.order_by("id").values_list("id", flat=True))


def _requests(ids: list[int]) -> list[tuple[tuple[str, ...], int, int]]:
    first, last = ids[0], ids[-1]
    return [
        (("user.1", "public"), first - 1, 1000),  # everything of two groups
        (("user.2", "public", "admin"), first + 20, 5),  # a limit that cuts
        (("user.3",), last, 10),  # nothing after the newest row
        (("user.9",), 0, 10),  # a group with no rows
        (("user.1", "public"), first + 40, 1000),  # the same groups as the first, later
    ]


@pytest.mark.parametrize("cap", [20_000, 7, 1])
def test_each_socket_gets_exactly_its_own_query_whatever_the_cap(rows, cap):
    requests = _requests(rows)
    expected = [group_rows_after(groups=g, after=a, limit=n) for g, a, n in requests]
    assert group_rows_after_many(requests, cap=cap) == expected
    assert expected[0] and len(expected[1]) == 5 and expected[2] == [] and expected[3] == []


def test_one_query_when_the_shared_read_is_complete(rows, django_assert_num_queries):
    requests = _requests(rows)
    with django_assert_num_queries(1):
        group_rows_after_many(requests)
    assert group_rows_after_many([]) == []


def test_a_request_far_behind_is_read_alone_and_does_not_push_the_others_off_the_shared_read(
        rows, django_assert_num_queries):
    far = (("public", "user.1"), 0, 1000)
    near = [(("user.2", "admin"), rows[-10], 5), (("user.3",), rows[-20], 5)]
    requests = [far, *near]
    expected = [group_rows_after(groups=g, after=a, limit=n) for g, a, n in requests]
    with django_assert_num_queries(2):  # the shared read of the near ones, and the far one alone
        assert group_rows_after_many(requests, cap=30) == expected
