"""Behind one address (a campus, a carrier NAT) every socket is its own entry, so opening or
closing one costs the same with thousands of neighbours as alone, and a ban finds them all."""

from __future__ import annotations

from chalicelib import entry
from testkit.events import connect_event, disconnect_event
from tests.support import invariants

CAMPUS = "198.51.100.200"


def _members(redis_client, key, owner):
    return [m.split("\0")[2] for m in redis_client.zrangebylex(key, f"[{owner}\0", f"({owner}\1")]


def test_each_socket_behind_an_address_is_one_entry_in_the_order_they_connected(harness, redis_client, keys, clock):
    socks = []
    for _ in range(300):
        cid = harness.connect(ip=CAMPUS)
        socks.append(cid)
        clock.advance(0.001)
    assert _members(redis_client, keys.ipsockets, CAMPUS) == socks
    entry.on_disconnect(disconnect_event(socks[150]), harness.service)
    assert _members(redis_client, keys.ipsockets, CAMPUS) == socks[:150] + socks[151:]
    assert int(redis_client.hget(keys.ipconns, CAMPUS)) == 299
    for cid in socks[:150] + socks[151:]:
        entry.on_disconnect(disconnect_event(cid), harness.service)
    assert redis_client.zrange(keys.ipsockets, 0, -1) == [] and redis_client.hget(keys.ipconns, CAMPUS) is None
    invariants.check(redis_client, keys)


def test_a_connection_refused_at_the_door_leaves_no_entry(harness, redis_client, keys):
    cid = "refused-socket"
    redis_client.zadd(keys.bans, {f"a:{CAMPUS}": 10**15})
    redis_client.expire(keys.bans, 60)
    assert entry.on_connect(connect_event(cid, ip=CAMPUS), harness.service)["statusCode"] == 403
    assert redis_client.zrange(keys.ipsockets, 0, -1) == [] and redis_client.zrange(keys.devsockets, 0, -1) == []
