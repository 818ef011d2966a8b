"""Device identities: issued and signed by the server, kept by the page, and followed by no-repeat,
rate limits and abuse closes across sockets; forged, expired and replayed ones are handled."""

from __future__ import annotations

import json

from chalicelib.config import DEFAULT_RATES
from chalicelib.identity import Identities
from testkit.events import new_connection_id
from tests.support import invariants
from tests.support.devices import TEST_IDENTITY_SECRET


def first_events(h, cid: str) -> list[str]:
    return [e["event"] if e["event"] != "error" else e["code"] for e in h.new(cid)]


def test_a_new_device_is_issued_a_signed_identity_with_its_first_answer(device_harness, redis_client, keys):
    h = device_harness
    a = h.connect(ip="198.51.100.5")  # no ?id= at all: a browser's first visit
    h.send(a, {"action": "register"})
    identity, queued = h.new(a)
    assert identity["event"] == "identity" and queued == {"event": "queued", "status": "queued"}
    device = h.service.identities.verify(identity["token"])
    assert device and json.loads(redis_client.hget(keys.conns, a))["dev"] == device
    assert "issue" not in json.loads(redis_client.hget(keys.conns, a)), "handed over once, then forgotten"
    h.send(a, {"action": "ping"})
    assert h.new(a) == [{"event": "pong"}]
    b = new_connection_id()  # the page keeps the token and presents it next time
    assert h.connect_as(b, ip="198.51.100.5", query={"id": identity["token"]}) == {"statusCode": 200}
    assert json.loads(redis_client.hget(keys.conns, b))["dev"] == device
    h.send(b, {"action": "ping"})
    assert h.new(b) == [{"event": "pong"}], "a known device is not issued another identity"


def test_forged_garbled_and_expired_identities_are_new_devices(device_harness, redis_client, keys):
    h = device_harness
    real = h.person("ana", "198.51.100.6")
    version, device, issued, signature = real.token.split(".")
    old = Identities(h.service.settings, clock=lambda: 1_000_000.0).issue()  # issued in 1970: long expired
    other_secret = h.service.settings.model_copy(update={"identity_secret": "x" * 43})
    for token in [
        f"{version}.{device}.{issued}.{'A' * len(signature)}",  # someone else's device, a made-up signature
        f"{version}.{'B' * len(device)}.{issued}.{signature}",  # a signature moved to another device
        Identities(other_secret).issue().token,  # signed with another secret
        "not a token", "d1....", "x" * 5000,
        old.token,
    ]:
        cid = new_connection_id()
        assert h.connect_as(cid, ip="198.51.100.6", query={"id": token}) == {"statusCode": 200}, token
        dev = json.loads(redis_client.hget(keys.conns, cid))["dev"]
        assert dev not in {device, old.id} and not dev.startswith("c:"), token
        h.send(cid, {"action": "ping"})
        assert first_events(h, cid) == ["identity", "pong"], token


def test_a_replayed_identity_is_the_same_device_and_never_meets_itself(device_harness):
    h = device_harness
    ana = h.person("ana", "198.51.100.7")
    tab, copy = ana.connect(), ana.connect()  # two tabs, or a token copied to a second browser
    h.send(tab, {"action": "register"})
    h.send(copy, {"action": "register"})
    assert first_events(h, tab) == ["queued"] and first_events(h, copy) == ["queued"]
    stranger = h.person("bo", "198.51.100.8").connect()
    h.send(stranger, {"action": "register"})
    assert first_events(h, stranger) == ["matched"]
    told = sorted([first_events(h, tab), first_events(h, copy)])
    assert told == [[], ["matched"]], "exactly one of the device's sockets meets the stranger"


def test_stop_then_start_does_not_meet_the_stranger_just_left_again(device_harness):
    h = device_harness
    ana, bo, cy = h.person("ana", "198.51.100.9"), h.person("bo", "198.51.100.9"), h.person("cy", "198.51.100.9")
    a, b = ana.connect(), bo.connect()
    h.send(a, {"action": "register"})
    h.send(b, {"action": "register"})
    assert first_events(h, b) == ["matched"]
    h.disconnect(a)  # Stop closes the socket...
    a2 = ana.connect()  # ...and Start opens a new one
    h.send(b, {"action": "next"})
    h.send(a2, {"action": "register"})
    assert first_events(h, a2) == ["queued"], "Ana met Bo again at once"
    c = cy.connect()
    h.send(c, {"action": "register"})
    assert first_events(h, c) == ["matched"]


def test_a_device_cannot_open_more_sockets_than_its_limits(device_harness, clock):
    h = device_harness
    ana = h.person("ana", "198.51.100.10")
    socks = [ana.connect() for _ in range(8)]
    assert ana.connect_status() == 429, "a ninth open socket"
    h.disconnect(socks[0])
    assert ana.connect_status() == 200  # nine opened this minute
    for sock in socks[1:]:
        h.disconnect(sock)
    statuses = []
    for _ in range(22):  # open and close, as a reload loop does
        cid = new_connection_id()
        statuses.append(h.connect_as(cid, ip=ana.ip, query={"id": ana.token})["statusCode"])
        h.disconnect(cid)
    assert statuses == [200] * 21 + [429], "the 31st socket of one device in a minute"
    assert h.person("bo", "198.51.100.10").connect_status() == 200, "the address is not limited for others"
    clock.advance(60)
    assert ana.connect_status() == 200


def test_new_devices_from_one_address_are_limited_per_minute_but_known_ones_are_not(device_harness, clock):
    h = device_harness
    statuses = [h.connect_as(new_connection_id(), ip="100.64.0.9")["statusCode"] for _ in range(121)]
    assert statuses == [200] * 120 + [429], "the 121st brand-new device in a minute"
    assert h.person("returning", "100.64.0.9").connect_status() == 200
    clock.advance(60)
    assert h.connect_as(new_connection_id(), ip="100.64.0.9") == {"statusCode": 200}


def test_rate_limits_follow_the_device_across_a_reload(device_harness, clock):
    h = device_harness
    ana = h.person("ana", "198.51.100.11")
    a = ana.connect()
    for _ in range(int(DEFAULT_RATES["misc"][0])):  # the 'misc' burst
        h.send(a, {"action": "ping"})
    h.send(a, {"action": "ping"})
    assert first_events(h, a)[-1] == "rate_limited"
    h.disconnect(a)
    again = ana.connect()  # a reload does not refill the bucket
    h.send(again, {"action": "ping"})
    assert first_events(h, again) == ["rate_limited"]


def test_buckets_of_a_device_with_no_socket_are_deleted_once_full_again(device_harness, clock, redis_client, keys):
    h = device_harness
    ana = h.person("ana", "198.51.100.12")
    a = ana.connect()
    h.send(a, {"action": "ping"})
    h.disconnect(a)
    assert redis_client.hget(keys.buckets, f"{ana.device}:misc") is not None
    clock.advance(2)
    from chalicelib import sweep

    sweep.run(h.service, clock=clock, window_seconds=0)
    assert not [f for f in redis_client.hkeys(keys.buckets) if f.startswith(ana.device)]
    assert redis_client.zcard(keys.trim) == 0


def test_a_device_closed_for_abuse_loses_its_seat_and_cannot_come_back_at_once(device_harness, clock, redis_client, keys):
    h = device_harness
    flooder, victim = h.person("flooder", "198.51.100.13"), h.person("victim", "198.51.100.14")
    f, v = flooder.connect(), victim.connect()
    h.send(f, {"action": "register"})
    h.send(v, {"action": "register"})
    room = next(e for e in h.new(v) if e["event"] == "matched")["room_code"]
    token = next(e for e in h.new(f) if e["event"] == "matched")["resume_token"]
    for _ in range(60):
        h.send(f, {"action": "chat", "room_code": room, "message": "spam"})
        if f in h.sender.closed:
            break
    assert h.sender.closed == [f]
    assert h.new(v)[-1] == {"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}
    assert invariants.check(redis_client, keys)["seats"] == {}, "a seat was held for the flooder to resume"
    assert flooder.connect_status() == 429, "it came straight back"
    clock.advance(61)
    back = flooder.connect()
    h.send(back, {"action": "resume", "token": token})
    assert first_events(h, back) == ["invalid_token"]


def test_with_the_previous_secret_still_accepted_an_identity_survives_a_rotation(device_harness, redis_client, keys):
    h = device_harness
    before = h.person("ana", "198.51.100.15")
    rotated = h.service.settings.model_copy(
        update={"identity_secret": "r" * 43, "identity_previous_secrets": [TEST_IDENTITY_SECRET]})
    after = Identities(rotated)
    device = after.for_connection("Y29ubmVjdGlvbjE=", before.token)
    assert device.id == before.device and device.token and not device.new, "kept, and re-signed with the new secret"
    assert after.verify(device.token) == before.device
    assert Identities(rotated.model_copy(update={"identity_previous_secrets": []})).verify(before.token) is None


def test_an_unreadable_identity_secret_leaves_connections_their_own_devices_and_is_read_again_later(policy_settings):
    config = policy_settings.model_copy(
        update={"identity_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:identity-AbCdEf"})
    now, reads = [1_000_000.0], []

    def read(arn: str) -> str:
        reads.append(arn)
        if len(reads) == 1:
            raise RuntimeError("AccessDeniedException")
        return "s" * 43

    identities = Identities(config, read_secret=read, clock=lambda: now[0])
    assert identities.for_connection("Y29ubmVjdGlvbjE=", "").id == "c:Y29ubmVjdGlvbjE="
    assert identities.for_connection("Y29ubmVjdGlvbjI=", "").id == "c:Y29ubmVjdGlvbjI="
    assert len(reads) == 1, "Secrets Manager was asked again at once"
    now[0] += 61
    device = identities.for_connection("Y29ubmVjdGlvbjM=", "")
    assert device.new and device.token and len(reads) == 2
