"""The cluster the handler tests run against is a real one, and the app stays in one slot of it."""

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


def test_every_key_the_scripts_receive_maps_to_the_one_slot_of_the_hash_tag():
    keys = Keys("rvc")
    assert {key_slot(key.encode()) for key in [*keys.state(), keys.sweep_lock]} == {key_slot(b"rvc")}


def test_the_handlers_talk_to_the_cluster_through_the_cluster_client(harness):
    assert isinstance(harness.service.store.client, RedisCluster)


def test_a_match_writes_only_to_the_node_that_owns_the_hash_tag(local_cluster, harness, redis_client, keys):
    a, b, room = harness.pair("alice", "bob")
    owner = local_cluster.owner_of(keys.tag)
    holding = {node.port for node in local_cluster.nodes if local_cluster.direct(node).dbsize() > 0}
    assert holding == {owner.port}
    assert local_cluster.seed is not owner  # the client had to follow the topology to get there
    assert redis_client.hexists(keys.rooms, room)
