"""Notice edits to the app's source so the gateway can re-import it, like ``chalice local``.

Polling modification times is dependency-free and works on every filesystem (including
mounted volumes where inotify events never arrive); a project this size scans in well under
a millisecond. The reload itself happens in-process and keeps open WebSockets connected:
that is what a deploy does in AWS, where API Gateway holds the sockets, not the Lambda.
"""

from __future__ import annotations

import os
from pathlib import Path

Snapshot = dict[str, tuple[int, int]]


class SourceWatcher:
    """app.py, every file under chalicelib/ and .chalice/config.json."""

    def __init__(self, app_dir: Path) -> None:
        self.app_dir = app_dir
        self._last = self.snapshot()

    def _files(self) -> list[str]:
        files = [str(self.app_dir / "app.py"), str(self.app_dir / ".chalice" / "config.json")]
        for root, dirs, names in os.walk(self.app_dir / "chalicelib"):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
            files.extend(os.path.join(root, n) for n in names if not n.endswith((".pyc", "~")))
        return files

    def snapshot(self) -> Snapshot:
        result: Snapshot = {}
        for path in self._files():
            try:
                stat = os.stat(path)
            except OSError:
                continue
            result[path] = (stat.st_mtime_ns, stat.st_size)
        return result

    def changes(self) -> list[str]:
        """Paths (relative to the app) added, removed or modified since the last call."""
        current = self.snapshot()
        changed = {p for p in current.keys() | self._last.keys() if current.get(p) != self._last.get(p)}
        self._last = current
        return sorted(os.path.relpath(p, self.app_dir) for p in changed)
