"""Reading what moto's Management API mock recorded for each connection.

moto appends every posted payload to ``connections[id].data`` with no separator, so the
concatenated bytes are split back into JSON documents here.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote


def split_frames(data: bytes) -> list[dict[str, Any]]:
    text = data.decode("utf-8")
    decoder = json.JSONDecoder()
    frames: list[dict[str, Any]] = []
    pos = 0
    while pos < len(text):
        frame, pos = decoder.raw_decode(text, pos)
        frames.append(frame)
    return frames


def moto_frames(connection_id: str, region: str = "us-east-1") -> list[dict[str, Any]]:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][region]
    # moto keys connections by the id as it appears in the URL path, '=' encoded as %3D.
    connection = backend.connections.get(quote(connection_id, safe="")) or backend.connections.get(connection_id)
    return split_frames(connection.data) if connection is not None else []
