"""People with device identities, for tests of the policies that follow a device.

A ``Person`` holds one identity the server issued (as a browser keeps it) and opens as many
sockets as the test wants with it, from one address; ``DeviceHarness.person`` makes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from testkit.events import new_connection_id
from testkit.harness import Harness

# 43 characters, as `secrets.token_urlsafe(32)` makes for `make dev`.
TEST_IDENTITY_SECRET = "dGVzdC1pZGVudGl0eS1zZWNyZXQtb2YtNDMtY2hhcnM"


@dataclass
class Person:
    harness: Harness
    label: str
    ip: str
    device: str
    token: str

    def connect_status(self) -> int:
        """Open a socket with this person's identity; the $connect status."""
        return int(self.harness.connect_as(new_connection_id(), ip=self.ip, query={"id": self.token})["statusCode"])

    def connect(self) -> str:
        """Open a socket with this person's identity; its connection id (it must be admitted)."""
        cid = new_connection_id()
        result = self.harness.connect_as(cid, ip=self.ip, query={"id": self.token})
        assert result == {"statusCode": 200}, f"{self.label}: {result}"
        return cid


class DeviceHarness(Harness):
    """A harness whose service signs identities; ``person`` issues one as a browser would get it."""

    people: dict[str, Person]

    def person(self, label: str, ip: str) -> Person:
        device = self.service.identities.issue()
        found = Person(self, label, ip, device.id, device.token)
        self.people[label] = found
        return found

    def device_of(self, label: str) -> str:
        return self.people[label].device
