"""Policy settings that get out of the way of tests and benchmarks that exercise something else.

Simulated clients share one address and act on a frozen or fast clock, so rate limits and
per-address limits are set where they never trigger (their Redis work still runs in the same
scripts). No repeat block and no resume grace, so a room ends at once and "nothing left in
Redis" can be checked immediately; no join deadline, since simulated clients rarely join the
rooms they are told of; the sweep makes one pass per tick. No device identities either: each
simulated client is its own device, so no `identity` event joins the ones they expect, and
the budget of new devices per address never runs out. Tests of those policies use the
production defaults instead.
"""

RELAXED = {
    "RATE_LIMITS": '{"signal": [1e9, 1e9], "chat": [1e9, 1e9], "typing": [1e9, 1e9], '
    '"seek": [1e9, 1e9], "misc": [1e9, 1e9], "abuse": [1e9, 1e9]}',
    "MAX_CONNECTIONS_PER_IP": "100000",
    "CONNECTIONS_PER_IP_PER_MINUTE": "100000",
    "REPEAT_BLOCK_SECONDS": "0",
    "RESUME_GRACE_SECONDS": "0",
    "ANNOUNCE_SECONDS": "0",
    "SWEEP_WINDOW_SECONDS": "0",
    "IDENTITY_SECRET": "",
    "NEW_DEVICES_PER_IP_PER_MINUTE": "100000",
    "MAX_CONNECTIONS_PER_DEVICE": "1000",
    "CONNECTIONS_PER_DEVICE_PER_MINUTE": "100000",
}

# The same for tests, which also keep the metrics lines out of their output.
RELAXED_NO_METRICS = {**RELAXED, "METRICS_ENABLED": "false"}
