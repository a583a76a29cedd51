"""Benchmark 8: a federation list of N members verified and applied on a real store (issue 15).

A node home is initialised with the CLI on SQLite or PostgreSQL and follows a ``file://``
list signed by an operator key. Measured, with ``gateway.federation.membership.refresh`` (read,
verify, apply in one audited transaction):

- the first list of N members (every member added, N + 1 audit entries);
- a second list that changes one member's keys (the other members untouched);
- how many JWKS fetches applying made (none: members' keys are read at their first use).

``python -m benchmarks.federation [--members 500] [--stores sqlite,postgresql]`` runs it
alone; ``python -m benchmarks`` runs it as step 8. Target: under 2 s for 500 members.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from benchmarks import nodes
from gateway import config
from gateway.demo.loopback import run_cli
from gateway.federation import memberlist as fedlist
from gateway.federation import membership as federation_trust
from gateway.federation.memberlist import ListedMember
from gateway.node import build

TARGET_S = 2.0


_KEY = ECKey.generate_key("P-256", private=True).thumbprint()


def _members(n: int, changed: int | None = None) -> list[Any]:
    key = _KEY
    types = (
        "youth-care",
        "adult-mental-health",
        "child-protection",
        "neighbourhood-team",
        "safe-at-home",
        "crisis-team",
        "general-practice",
        "other",
    )
    out = []
    for i in range(n):
        tp = ECKey.generate_key("P-256", private=True).thumbprint() if i == changed else key
        out.append(
            ListedMember(
                org_id=f"org-{i:04d}",
                name=f"Organisatie {i}",
                type=types[i % len(types)],
                url=f"https://gateway.org-{i:04d}.example",
                thumbprints=(tp,),
                contact=("+31 20 123 4567", f"team@org-{i:04d}.example"),
            )
        )
    return out


def _write(path: Path, operator: ECKey, version: int, members: list[Any]) -> int:
    now = datetime.now(UTC)
    bundle = fedlist.build("regio-bench", version, members, now=now, valid_until=now + timedelta(days=7))
    text = json.dumps(fedlist.sign(bundle, operator, now=now), separators=(",", ":"))
    path.write_text(text)
    return len(text)


class _CountingHttp:
    """Stands in for the node's outbound client: applying a list must make no call at all."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def request(self, *args: Any, **kw: Any) -> Any:
        self.calls += 1
        return self.real.request(*args, **kw)

    def close(self) -> None:
        self.real.close()


def measure_store(root: Path, store: str, n: int, db: str | None) -> dict[str, Any]:
    home = root / f"fed-{store}"
    args = ["init", str(home), "--org-id", "bench-node", "--name", "Bench Node", "--url", "http://127.0.0.1:8499"]
    run_cli(*(args + (["--db", db] if db else [])))
    operator = ECKey.generate_key("P-256", private=True)
    list_file = root / f"list-{store}.json"
    with open(home / "node.toml", "a", encoding="utf-8") as fh:
        fh.write(
            f'\n[federation]\nlist_url = "file://{list_file}"\noperator_thumbprints = ["{operator.thumbprint()}"]\n'
        )
    node = build(config.load(home))
    counting = _CountingHttp(node.http)
    node.partners.http = counting
    try:
        size = _write(list_file, operator, 1, _members(n))
        t0 = time.perf_counter()
        first = federation_trust.refresh(node)
        first_s = time.perf_counter() - t0
        _write(list_file, operator, 2, _members(n, changed=n // 2))
        t0 = time.perf_counter()
        second = federation_trust.refresh(node)
        second_s = time.perf_counter() - t0
        trusted = len(node.partners.list())
    finally:
        node.uow.engine.dispose()
    return {
        "members": n,
        "list_bytes": size,
        "first_apply_s": round(first_s, 3),
        "first_result": first.result,
        "first_added": len(first.added),
        "one_changed_apply_s": round(second_s, 3),
        "one_changed_result": second.result,
        "changed": second.changed,
        "trusted_after": trusted,
        "jwks_fetches_while_applying": counting.calls,
        "met": first_s < TARGET_S
        and second_s < TARGET_S
        and first.result == "applied"
        and len(second.changed) == 1
        and counting.calls == 0,
    }


def measure(root: Path, stores: list[str], n: int = 500) -> dict[str, Any]:
    out: dict[str, Any] = {"target_s": TARGET_S}
    for store in stores:
        schemas = nodes.Schemas() if store == "postgresql" else None
        try:
            out[store] = measure_store(root, store, n, schemas.url() if schemas else None)
        finally:
            if schemas:
                schemas.cleanup()
        x = out[store]
        print(
            f"   {store}: {n} members ({x['list_bytes']:,} bytes) verified+applied in {x['first_apply_s']} s; "
            f"one member changed: {x['one_changed_apply_s']} s; JWKS fetches while applying: "
            f"{x['jwks_fetches_while_applying']}",
            flush=True,
        )
    return out


def render(f: dict[str, Any]) -> list[str]:
    lines = [
        "8. Federation list (verify + apply in one audited transaction, real store; "
        "members' JWKS are read at first use)"
    ]
    for store, x in f.items():
        if isinstance(x, dict):
            lines.append(
                f"   {store}: {x['members']} members, {x['list_bytes']:,} bytes: first list {x['first_apply_s']} s "
                f"({x['first_added']} added); one member changed {x['one_changed_apply_s']} s "
                f"({', '.join(x['changed'])}); JWKS fetches while applying {x['jwks_fetches_while_applying']}"
            )
    return [*lines, ""]


def targets(f: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "target": f"federation list of {x['members']} members verified and applied < {f['target_s']:.0f} s ({store})",
            "value": f"{x['first_apply_s']} s first, {x['one_changed_apply_s']} s one changed, "
            f"{x['jwks_fetches_while_applying']} JWKS fetches",
            "met": x["met"],
        }
        for store, x in f.items()
        if isinstance(x, dict)
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.federation", description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=500)
    ap.add_argument("--stores", default="sqlite,postgresql")
    args = ap.parse_args(argv)
    stores = [s for s in args.stores.split(",") if s]
    if "postgresql" in stores and nodes.pg_available():
        stores.remove("postgresql")
    root = Path(tempfile.mkdtemp(prefix="gateway-bench-fed-"))
    try:
        result = measure(root, stores, args.members)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(render(result)))
    for t in targets(result):
        print(f"{t['target']}: {t['value']}: {'met' if t['met'] else 'NOT MET'}")
    return 0 if all(t["met"] for t in targets(result)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
