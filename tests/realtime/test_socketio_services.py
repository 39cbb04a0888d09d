"""Socket.IO on the Procfile's ws processes (uvicorn) with PostgreSQL and Redis: two processes on
one Redis, a block reaching both, and a server restart that the unmodified socket.io-client
recovers from through its own mechanism (docs/realtime.md, "Socket.IO clients")."""
from __future__ import annotations

from contextlib import ExitStack

import pytest

from accounts.services import user_block
from accounts.tokens import access_token_for
from listings.services import listing_approve

from ..listings.factories import ListingFactory
from ..servers import held_port, procfile_server, services_env
from .sio import node_harness

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def ws_processes(transactional_db, tmp_path):
    """Two uvicorn ws processes on the test database, the same Redis and channel prefix."""
    env = services_env(WS_RECHECK_SECONDS="0")
    with ExitStack() as stack:
        ports = [stack.enter_context(held_port(19720, 19760)) for _ in range(2)]
        for n, port in enumerate(ports):
            stack.enter_context(procfile_server("uvicorn", port, env, tmp_path / f"ws{n}.log"))
        yield {"urls": [f"http://127.0.0.1:{p.number}" for p in ports], "env": env, "ports": ports, "logs": tmp_path}


def _approve(listing, moderator):
    listing_approve(listing_id=listing.pk, actor=moderator, reason="ok")


def test_every_socket_gets_its_events_whatever_process_it_is_on(ws_processes, seller, moderator, admin_user):
    listing = ListingFactory(owner=seller)
    a, b = ws_processes["urls"]
    with node_harness() as h:
        h.send(cmd="open", name="seller_a", url=a, token=access_token_for(seller))
        h.send(cmd="open", name="seller_b", url=b, token=access_token_for(seller))
        h.send(cmd="open", name="mod_b", url=b, token=access_token_for(moderator))
        for name in ("seller_a", "seller_b", "mod_b"):
            h.wait_connect(name)
        _approve(listing, moderator)
        [on_a] = h.wait_events("seller_a", "listings.update", 1)
        [on_b] = h.wait_events("seller_b", "listings.update", 1)
        [on_admin] = h.wait_events("mod_b", "listings.update", 1)  # the `admin` room's row
        h.wait_events("mod_b", "admin.stats", 1)
        assert on_a["args"] == on_b["args"] and on_a["args"][0]["id"] == listing.pk
        assert on_admin["args"][0] == on_a["args"][0] and on_admin["args"][1]["id"] != on_a["args"][1]["id"]

        user_block(user_id=seller.pk, actor=admin_user, reason="spam", until=None)
        h.wait(lambda r: len(h.of("seller_a", "disconnect")) + len(h.of("seller_b", "disconnect")) == 2)
        assert {r["reason"] for r in h.of("seller_a", "disconnect") + h.of("seller_b", "disconnect")} == {
            "io server disconnect"}
        assert not h.of("mod_b", "disconnect")


def test_server_restart_while_events_are_published_recovers_them_all(transactional_db, seller, moderator, tmp_path):
    """The client is served by a ws process that stops; events are published while none serves it
    (its reconnects are refused: the port is held, not listened on; tests/servers.HeldPort);
    a new process (no state shared with the first) answers its reconnect with the same pid."""
    listings = [ListingFactory(owner=seller) for _ in range(4)]
    env = services_env(WS_RECHECK_SECONDS="0")
    with held_port(19720, 19760) as port, node_harness() as h:
        url = f"http://127.0.0.1:{port.number}"
        with procfile_server("uvicorn", port, env, tmp_path / "first.log"):
            h.send(cmd="open", name="s", url=url, token=access_token_for(seller))
            assert h.wait_connect("s")["recovered"] is False
            _approve(listings[0], moderator)
            h.wait_events("s", "listings.update", 1)
        h.wait(lambda r: r.get("ev") == "disconnect")
        for listing in listings[1:]:
            _approve(listing, moderator)
        with procfile_server("uvicorn", port, env, tmp_path / "second.log"):
            assert h.wait_connect("s", 2)["recovered"] is True
            events = h.wait_events("s", "listings.update", 4)
    assert [e["args"][0]["id"] for e in events] == [x.pk for x in listings]
