"""Tables for people: the same rows rendered with ``rich`` on the terminal and as Markdown.

Every table is built once as (title, columns, rows); ``rich_tables`` and ``markdown`` only
render them, so the terminal and ``bench-results/latest.md`` always agree.
"""

from __future__ import annotations

import math
from typing import Any

Table = tuple[str, list[str], list[list[str]]]


def _n(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _count(c: dict[str, float]) -> str:
    return _n(c["min"]) if c["min"] == c["max"] else f"{c['min']}-{c['max']} (mean {c['mean']})"


def tables(results: dict[str, Any]) -> list[Table]:
    out: list[Table] = []
    h = results.get("handlers")
    if h:
        rows = [[name, _n(r["latency_ms"]["p50"], 3), _n(r["latency_ms"]["p99"], 3), _count(r["round_trips"]),
                 _count(r["commands"]), _count(r["messages"])] for name, r in h["actions"].items()]
        post = h.get("post_to_connection")
        if post:
            rows.append(["(post_to_connection, the app's sender)", _n(post["latency_ms"]["p50"], 3),
                         _n(post["latency_ms"]["p99"], 3), "0", "0", f"1 ({_n(post['cpu_ms']['p50'], 3)} ms CPU)"])
        out.append((f"Handler micro-benchmarks (warm, in-process, {h['iterations']} calls each)",
                    ["action", "p50 ms", "p99 ms", "Redis round trips", "Redis commands", "messages posted"], rows))
    posts = results.get("sender")
    if posts:
        from bench import sender

        out.append((f"Management API sender: CPU per post ({posts['iterations']} posts each, interleaved, "
                    "same loopback endpoint)", sender.COLUMNS, sender.rows(posts)))
    for key, label in (("load_burst", "burst"), ("load_steady", "steady")):
        r = results.get(key)
        if not r:
            continue
        plan = r["plan"]
        arrival = "all at once" if plan["arrival"] == "burst" else f"{plan['rate']:g} users/s"
        m, c, led = r["match_latency_ms"], r["connect_latency_ms"], r["ledger"]
        rows = [
            ["users (arrival)", f"{r['users']} ({arrival})"],
            ["gateway options", " ".join(r.get("gateway_args", [])) or "(defaults)"],
            ["matched", f"{r['matched_users']}/{r['users']} ({r['matched_pct']} %)"],
            ["match latency p50 / p90 / p99 ms", f"{_n(m['p50'], 1)} / {_n(m['p90'], 1)} / {_n(m['p99'], 1)}"],
            ["connect latency p50 / p99 ms", f"{_n(c['p50'], 1)} / {_n(c['p99'], 1)}"],
            ["matches (skips)", f"{r['matches']} ({r['skips']})"],
            ["actions/s (client messages)", _n(r["actions_per_s"], 0)],
            ["invocations/s", _n(r["invocations_per_s"], 0)],
            ["server messages/s", _n(r["server_messages_per_s"], 0)],
            ["relayed messages delivered exactly once",
             f"{led['delivered_once']}/{led['relayed']} (lost {led['lost']}, duplicated {led['duplicated']}, "
             f"misdelivered {led['misdelivered']})"],
            ["relayed frames that reached a newcomer before its own `matched`", str(r.get("early_frames", "-"))],
            ["errors", str(r["errors"])],
            ["Redis after everyone left",
             ("clean: " if r["redis_after"]["clean"] else "NOT clean: ")
             + ", ".join(f"{k} ({v})" for k, v in r["redis_after"]["keys"].items())],
            ["wall time s", _n(r["elapsed_s"], 1)],
            ["CPU s: gateway / its workers / load generator / Valkey",
             " / ".join(_n(r["cpu_s"].get(k), 1) for k in ("gateway", "gateway_workers", "load_generator", "valkey"))],
        ]
        out.append((f"End-to-end load through the local gateway ({label})", ["measure", "value"], rows))
    cold = results.get("cold")
    if cold:
        rss = cold["rss_mb"]
        rows = [
            [f"import app (median of {cold['runs']})", f"{_n(cold['import_ms_median'], 1)} ms"],
            ["first $connect / first message that posts / warm message",
             f"{_n(cold['first_connect_ms_median'], 1)} / {_n(cold['first_post_ms_median'], 1)} / "
             f"{_n(cold['warm_message_ms_median'], 1)} ms"],
            ["peak RSS: interpreter / after import / after first $connect / after first post",
             f"{rss['interpreter']} / {rss['after_import']} / {rss['after_first_connect']} / "
             f"{rss['after_first_post']} MB"],
            ["slowest imports (own time)", ", ".join(f"{n} {ms:g} ms" for n, ms in cold["top_imports_ms"][:6])],
        ]
        pkg = results.get("package")
        if pkg and "zip_mb" in pkg:
            rows.append(["deployment package (chalice package)",
                         f"{pkg['zip_mb']} MB zipped, {pkg['unzipped_mb']} MB unzipped"])
            rows.append(["largest parts (unzipped)", ", ".join(f"{n} {mb:g} MB" for n, mb in pkg["largest_mb"][:5])])
        elif pkg:
            rows.append(["deployment package", f"failed: {pkg.get('error', '?')[:200]}"])
        out.append(("Cold start and size", ["measure", "value"], rows))
    for cost in results.get("cost", []):
        p, usd, a = cost["per_match"], cost["usd_per_million_matches"], cost["assumptions"]
        rows = [
            ["billed messages per match",
             f"{p['billed_messages']} ({p['client_messages']} in + {p['server_messages']} out + "
             f"{p['ping_messages']} ping/pong)"],
            ["Lambda invocations per match", _n(p["lambda_invocations"])],
            ["connection-minutes per match", _n(p["connection_minutes"])],
            ["Lambda duration per invocation",
             f"{p['lambda_duration_ms']} ms -> billed {p['lambda_billed_ms']} ms (handler CPU {p['handler_cpu_ms']} ms"
             f" + {p['posts_per_invocation']} posts x {p['post_cpu_ms']} ms CPU, x{p['cpu_slowdown']} at "
             f"{cost['memory_mb']} MB; Redis RTT {a['redis_rtt_ms']} ms; post latency {a['post_latency_ms']} ms)"],
            ["API Gateway messages", f"${usd['api_gateway_messages']}"],
            ["API Gateway connection-minutes", f"${usd['api_gateway_connection_minutes']}"],
            ["Lambda requests", f"${usd['lambda_requests']}"],
            ["Lambda compute (GB-s)", f"${usd['lambda_compute']}"],
            ["total per million matches", f"${usd['total']}"],
        ]
        out.append((f"Cost per million matches at {cost['memory_mb']} MB "
                    f"(calls of {a['call_minutes']:g} min, pings every {a['ping_interval_s']:g} s)",
                    ["item", "value"], rows))
    compared = results.get("cost_compare")
    if compared and compared["columns"]:
        cols = compared["columns"]

        def row(name: str, cell: Any) -> list[str]:
            return [name, *(cell(c) for c in cols)]

        rows = [
            row("matches in the run", lambda c: str(c["matches"])),
            row("register -> media flowing: in + out", lambda c: f"{c['setup']} ({c['setup_in']} + {c['setup_out']})"),
            row("+ pings and pongs (as modelled)", lambda c: f"{c['setup_and_pings']} (+{c['pings']})"),
            row("conversation and its end (chat, leave, next's notice)", lambda c: _n(c["rest"])),
            row("billed messages per match, all", lambda c: _n(c["billed"])),
            row("Lambda invocations per match", lambda c: _n(c["invocations"])),
            row("API Gateway messages per million matches", lambda c: f"${c['usd_messages']}"),
            row("total per million matches", lambda c: f"${c['usd_total']}"),
        ]
        out.append((f"Billed messages per match, before and after the join fold and candidate batches "
                    f"(burst runs, {compared['memory_mb']} MB)", ["per match", *(c["label"] for c in cols)], rows))
    targets = results.get("targets")
    if targets:
        out.append(("Targets", ["target", "figure", "met"],
                    [[t["target"], t["figure"], {True: "yes", False: "NO", None: "-"}[t["met"]]] for t in targets]))
    return out


def rich_tables(results: dict[str, Any]) -> list[Any]:
    from rich.table import Table as RichTable

    rendered = []
    for title, columns, rows in tables(results):
        t = RichTable(title=title, title_justify="left", show_lines=False)
        for i, col in enumerate(columns):
            t.add_column(col, justify="left" if i == 0 or len(columns) == 2 else "right", overflow="fold")
        for row in rows:
            t.add_row(*row)
        rendered.append(t)
    return rendered


def markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    m = results.get("machine", {})
    if m:
        lines.append(f"Machine: {m['nproc']} cores ({m['cpu']}), Python {m['python']}, load average at start "
                     f"{', '.join(map(str, m['loadavg_at_start']))}; {m['date']}.")
        lines.append("")
    for title, columns, rows in tables(results):
        lines.append(f"**{title}**")
        lines.append("")
        lines.append("| " + " | ".join(columns) + " |")
        aligns = ["---" if i == 0 or len(columns) == 2 else "---:" for i in range(len(columns))]
        lines.append("|" + "|".join(aligns) + "|")
        for row in rows:
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        lines.append("")
    return "\n".join(lines)
