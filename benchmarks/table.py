"""Render a benchmark report as the plain-text table ``python -m benchmarks`` prints."""

from __future__ import annotations

from typing import Any

from benchmarks import federation as federation_bench
from benchmarks.durability import render as durability_lines


def _row(cells: list[str], widths: list[int], text: set[int]) -> str:
    return "  ".join(
        c.ljust(w) if i in text else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
    ).rstrip()


def _table(head: list[str], rows: list[list[str]], text: tuple[int, ...] = (0,)) -> list[str]:
    """Numbers right-aligned; the columns in ``text`` left-aligned."""
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    cols = set(text)
    return [
        _row(head, widths, cols),
        _row(["-" * w for w in widths], widths, cols),
        *(_row(r, widths, cols) for r in rows),
    ]


def _exchange_side_by_side(r: dict[str, Any]) -> list[str]:
    """Issue 19: at c=8 the exchange next to the floor, per figure, with the ratio."""
    floor = r.get("floor", {}).get("levels", {}).get("8")
    if not floor:
        return []
    rows = []
    for store, levels in r["exchange"].items():
        x = levels.get("8")
        if not x:
            continue
        cpu_x = sum((x.get("cpu_ms_per_request") or {}).values())
        cpu_f = sum((floor.get("cpu_ms_per_request") or {}).values())
        rows.append(
            [
                store,
                f"{x['throughput_rps']:.1f}",
                f"{floor['throughput_rps']:.1f}",
                f"{100 * x['throughput_rps'] / floor['throughput_rps']:.1f}%" if floor["throughput_rps"] else "-",
                f"{x['p99_ms']:.1f}",
                f"{floor['p99_ms']:.1f}",
                f"{cpu_x:.2f}",
                f"{cpu_f:.2f}",
                f"{cpu_x / cpu_f:.2f}x" if cpu_f else "-",
            ]
        )
    return [
        "1b. Exchange against the three-hop floor at c=8, same run (issue 19)",
        *_table(["store", "req/s", "floor", "of floor", "p99 ms", "floor", "CPU ms", "floor", "CPU x"], rows),
        "",
    ]


def _profile(r: dict[str, Any]) -> list[str]:
    """The py-spy view (``--profile``): shares per node and each use case's CPU budget."""
    if "profile" not in r:
        return []
    lines = ["Hot path (py-spy --gil: CPU samples, concurrency 4; py-spy slows the nodes, shares count)"]
    for org, x in r["profile"].items():
        if isinstance(x, str):  # "skipped" or "note": why there is no profile, or how to read it
            lines.append(f"   {org}: {x}")
        elif isinstance(x, dict) and "skipped" in x:
            lines.append(f"   {org}: skipped, {x['skipped']}")
        elif isinstance(x, dict) and "top_inclusive_pct" in x:
            lines.append(
                f"   {org} ({x['samples']} samples in requests, "
                f"{x.get('cpu_ms_per_exchange_in_requests', '?')} ms CPU per exchange):"
            )
            lines += [f"     {pct:5.1f}%  {frame}" for frame, pct in x["top_inclusive_pct"][:18]]
            for use_case, b in x.get("budget_ms", {}).items():
                lines.append(f"     {use_case}: {b['total']} ms per exchange, of which")
                lines += [f"       {v:6.2f} ms  {f}" for f, v in b["calls"]]
    return [*lines, ""]


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb']} MB, Python {m['python']}, "
        f"SQLite {m['sqlite']}, PostgreSQL {m['postgresql'] or '-'}; load avg at start "
        f"{', '.join(f'{x:.1f}' for x in m['load_average'])}",
        f"Nodes: gunicorn gthread, {r['settings'].get('workers')} workers x {r['settings'].get('threads')} "
        f"threads; {r['settings']['seconds_per_level']} s per level after {r['settings']['warmup']} s warm-up; "
        "client and nodes share the machine.",
        "",
    ]
    rows = []
    base = r.get("baseline", {}).get("levels", {})
    floor = r.get("floor", {}).get("levels", {})
    stacks = [("baseline (1 hop)", base), ("floor (3 hops, no node work)", floor)]
    for name, levels in stacks + [(f"exchange {s}", lv) for s, lv in r["exchange"].items()]:
        for c in ("1", "8", "32"):
            x = levels.get(c)
            if not x:
                continue
            ratio = ""
            if not name.startswith("baseline") and base.get(c, {}).get("throughput_rps"):
                ratio = f"{100 * x['throughput_rps'] / base[c]['throughput_rps']:.1f}%"
            rows.append(
                [
                    name,
                    c,
                    f"{x['throughput_rps']:.1f}",
                    f"{x['p50_ms']:.1f}",
                    f"{x['p95_ms']:.1f}",
                    f"{x['p99_ms']:.1f}",
                    str(x["failed"]),
                    ratio,
                    ", ".join(f"{k} {v}" for k, v in x.get("refusals", {}).items()),
                ]
            )
    cpu = []
    for name, levels in [("baseline", base), ("floor", floor)] + [(s, lv) for s, lv in r["exchange"].items()]:
        per = levels.get("8", {}).get("cpu_ms_per_request")
        if per:
            cpu.append(f"{name}: " + ", ".join(f"{k} {v} ms" for k, v in per.items()))
    if cpu:
        rows.append([])
    rows = [x for x in rows if x]
    lines += [
        "1-2. End-to-end exchange vs one-hop baseline and the three-hop floor (benchmarks/floor.py; "
        "the floor keeps the node's one thread per worker for callbacks)",
        *_table(
            ["stack", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "failed", "of base", "refusals"], rows, (0, 8)
        ),
        *(["   server CPU per request at c=8: " + "; ".join(cpu)] if cpu else []),
        "",
    ]
    lines += _exchange_side_by_side(r)
    if "crypto" not in r:  # --exchange-only
        lines += _profile(r)
        rows = [[t["target"], t["value"], "met" if t["met"] else "NOT MET"] for t in r["targets"]]
        return "\n".join([*lines, "Targets", *_table(["target", "measured", ""], rows, (0, 1, 2))])
    c = r["crypto"]
    lines += [
        "3. Cryptographic floor (ES256, cryptography directly)",
        f"   raw sign {c['raw_es256_sign_us']} us, raw verify {c['raw_es256_verify_us']} us; "
        f"node consent-token verify {c['node_token_verify_us']} us = {c['token_verify_ratio']}x raw verify; "
        f"node JOSE sign {c['node_jose_sign_us']} us",
        f"   per exchange {c['signs_per_exchange']} signs + {c['verifies_per_exchange']} verifies = "
        f"{c['raw_crypto_per_exchange_ms']} ms of raw crypto",
        "",
    ]
    a = r["audit_append"]
    rows = [
        [s, *(str(v[f"threads_{n}"]["appends_per_s"]) for n in (1, 4, 8)), str(v["chain_intact_after"])]
        for s, v in a.items()
    ]
    lines += [
        "4. Audit append (audit_log.append in real units of work), appends/s",
        *_table(["store", "1 thread", "4 threads", "8 threads", "chain intact"], rows),
    ]
    v = r["audit_verify"]
    lines += [
        f"   verify {v['events']:,} events + {v['checkpoints']:,} signed checkpoints (SQLite, {v['db_mb']} MB): "
        f"gateway audit verify {v['audit_log_verify_s']} s ({v['events_per_s']:,}/s), "
        f"chain.verify_rows alone {v['verify_rows_s']} s; built in {v['build_s']} s",
        "",
    ]
    if "durability" in r:
        lines += durability_lines(r["durability"])
    s = r["summary"]
    rows = [
        [n, f"{x['build_ms']}", f"{x['build_and_sign_ms']}", f"{x['per_record_us']}", f"{x['bundle_bytes']:,}"]
        for n, x in s.items()
        if isinstance(x, dict)
    ]
    lines += [
        "5. Summary cost (profiles.build_summary incl. guard + signing.sign_bundle)",
        *_table(["records", "build ms", "+sign ms", "us/record", "bytes"], rows),
        f"   slope {s['slope_us_per_record']} us/record; per-record cost grows x{s['per_record_growth_10x']} "
        "over the last tenfold",
        "",
    ]
    lines += ["6. Resident memory (MB)"]
    if "baseline" in r:
        b = r["baseline"]
        lines.append(
            f"   baseline idle {b['rss_idle']['total_mb']} (workers {b['rss_idle']['workers_mb']}), "
            f"peak {b['rss_peak'].get('total_mb')}"
        )
    for store, x in r["rss"].items():
        for org, idle in x["idle"].items():
            lines.append(
                f"   {store} {org} idle: total {idle['total_mb']} = arbiter {idle['arbiter_mb']} + "
                f"workers {idle['workers_mb']}"
            )
        p = x["holder_under_load_peak"]
        if p:
            lines.append(f"   {store} holder under load (peak): total {p['total_mb']}, workers {p['workers_mb']}")
    lines.append("")
    if "overview" in r:
        o = r["overview"]
        lines += [
            f"7. Family overview: {o['partners']} partners, one slow; deadline {o['deadline_s']} s; "
            f"answered by the deadline {o['answered_by_deadline']}; fast partners done (median) "
            f"{o['fast_partners_done_median_s']} s; overview returned (median/max) "
            f"{o['overview_returned_median_s']}/{o['overview_returned_max_s']} s; late: {', '.join(o['late'])}",
            f"   ({o['method']})",
            "",
        ]
    if "federation" in r:
        lines += federation_bench.render(r["federation"])
    if "locator" in r:
        loc = r["locator"]
        lines.append("8. Finding who is involved (PSI setup per findable count; match; $locate over 20 partners)")
        for n, x in loc["setup"].items():
            lines.append(f"   {int(n):>7,} findable: setup {x['bytes']:,} bytes, built in {x['build_s']} s")
        m, o = loc["match"], loc["locate"]
        lines += [
            f"   match: PSI alone {loc['match_in_process']['cpu_us_per_match']} us CPU; on a node p50 {m['p50_ms']} ms, "
            f"p95 {m['p95_ms']} ms, answerer CPU {m['answerer_cpu_ms_per_match']} ms per match",
            f"   $locate: deadline {o['deadline_s']} s, returned (median/max) {o['returned_median_s']}/"
            f"{o['returned_max_s']} s, found at {o['found_per_round']}, unavailable {o['unavailable']}",
            "",
        ]
    if "soak" in r:
        k = r["soak"]
        lines += [
            f"Soak: {k['seconds']:.0f} s at concurrency {k['concurrency']}: {k['requests']} requests, "
            f"{k['ok']} ok, {k['failed']} failed {k['refusals'] or ''}; {k['throughput_rps']}/s, p99 {k['p99_ms']} ms",
            f"   audit: holder disclosure-sent {k['holder_disclosure_sent']}, requester summary-received "
            f"{k['requester_summary_received']}, lost {k['lost_audit_events']}; verify: "
            + "; ".join(f"{o}: {t}" for o, t in k["audit_verify"].items()),
            f"   RSS trend holder {k['rss_holder']}, requester {k['rss_requester']}",
            "",
        ]
    lines += _profile(r)
    rows = [[t["target"], t["value"], "met" if t["met"] else "NOT MET"] for t in r["targets"]]
    lines += ["Targets", *_table(["target", "measured", ""], rows, (0, 1, 2))]
    return "\n".join(lines)
