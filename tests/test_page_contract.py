"""What the page and the server must agree on, read from the page's own files."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from chalicelib import protocol

WEB = Path(__file__).resolve().parent.parent / "chalicelib" / "web"


class ReasonButtons(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "button" and "reason" in (found.get("class") or "").split():
            self.values.append(found.get("value") or "")


def test_the_report_dialog_offers_exactly_the_servers_reasons_in_its_order() -> None:
    parser = ReasonButtons()
    parser.feed((WEB / "index.html").read_text(encoding="utf-8"))
    assert tuple(parser.values) == protocol.REPORT_REASONS


def test_the_page_batches_no_more_candidates_per_frame_than_the_server_takes() -> None:
    found = re.search(r"export const CANDIDATES_MAX = (\d+);", (WEB / "call.js").read_text(encoding="utf-8"))
    assert found and int(found.group(1)) == protocol.CANDIDATES_MAX
