"""The cluster the handler tests run against is a real one; the lobby stays in one slot of it, and
each room in its own."""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ClusterCrossSlotError

from chalicelib.keys import Keys


def test_three_primaries_share_all_16384_slots(local_cluster):
    direct = local_cluster.direct(local_cluster.nodes[0])
    info = direct.cluster("info")
    assert info["cluster_state"] == "ok"
    assert int(info["cluster_size"]) == 3
    assert int(info["cluster_slots_assigned"]) == 16384


def test_a_script_across_two_slots_is_refused_with_crossslot_by_the_server(local_cluster):
    assert key_slot(b"{a}x") != key_slot(b"{b}y")
    # Straight to a node, past redis-py's own check, so the refusal is the server's.
    direct = local_cluster.direct(local_cluster.nodes[0])
    with pytest.raises(ClusterCrossSlotError):  # redis-py's class for the server's CROSSSLOT error
        direct.eval("return redis.call('GET', KEYS[1])", 2, "{a}x", "{b}y")


def test_every_key_the_lobbys_scripts_receive_maps_to_the_one_slot_of_the_hash_tag():
    keys = Keys("rvc")
    assert {key_slot(key.encode()) for key in [*keys.state(), keys.sweep_lock]} == {key_slot(b"rvc")}


def test_a_rooms_keys_map_to_the_slot_of_its_own_tag():
    keys = Keys("rvc")
    slots = {key_slot(key.encode()) for key in (keys.view("r00m"), keys.relayed("r00m", "m1"), keys.relayed("r00m", "c:2"))}
    assert slots == {key_slot(b"rvc:r:r00m")} != {key_slot(b"rvc")}


def test_the_handlers_talk_to_the_cluster_through_the_cluster_client(harness):
    assert isinstance(harness.service.store.client, RedisCluster)


def test_the_lobby_lives_on_its_tags_node_a_room_on_its_own_and_relays_touch_only_the_rooms(
    local_cluster, harness, redis_client, keys
):
    a, b, room = harness.pair("alice", "bob")
    lobby, own = local_cluster.owner_of(keys.tag), local_cluster.owner_of(keys.view(room))
    assert local_cluster.seed is not lobby  # the client had to follow the topology to get there
    assert redis_client.hexists(keys.rooms, room) and redis_client.hget(keys.view(room), "i") == a
    for node in local_cluster.nodes:
        held = local_cluster.direct(node).keys("*")
        in_lobby = {key for key in held if key.startswith(keys.tag + ":")}
        in_room = {key for key in held if key.startswith(keys.room_tag(room) + ":")}
        assert in_lobby | in_room == set(held), f"{node.port} holds keys of neither: {held}"
        assert (node is lobby) == bool(in_lobby) and (node is own) == bool(in_room)

    for node in local_cluster.nodes:
        local_cluster.direct(node).config_resetstat()
    for line in ("hi", "how are you?", "fine"):
        harness.send(a, {"action": "chat", "room_code": room, "message": line})
    harness.send(b, {"action": "typing", "room_code": room})
    assert [e["message"] for e in harness.new(b) if e["event"] == "chat"] == ["hi", "how are you?", "fine"]
    scripts_run = {node.port: local_cluster.direct(node).info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
                   for node in local_cluster.nodes}
    # Four relays there (and a fifth call if that node first had to load the script), none elsewhere.
    assert scripts_run[own.port] in {4, 5}
    assert all(calls == 0 for port, calls in scripts_run.items() if port != own.port)
