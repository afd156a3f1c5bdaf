"""The HTTP example (scripts/live_server.py) on loopback: events posted, members asked, answers equal to a
projection of the same events in this process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from mlm_core import Genealogy, Plan, synth
from mlm_core.projection import Projection

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import live_server  # noqa: E402


def _call(url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_http_example_answers_what_the_projection_computes(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "live_server.py"), "--members", "300",
                               "--port", "0", "--store", str(tmp_path / "live.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        base = line.split()[2]
        events = [{"event_id": f"e{i}", "kind": "order", "member_id": f"M{2 + i % 40:08d}", "pv": 10_000 + i,
                   "bv": 8_000} for i in range(120)]
        events.append({"event_id": "bad", "kind": "order", "member_id": "NOBODY", "pv": 1})
        status, body = _call(f"{base}/events", events)
        assert status == 200 and body["seq"] == 120
        assert [r["event_id"] for r in body["rejected"]] == ["bad"]
        # The same events in this process.
        plan = Plan.from_toml(live_server.SPEC)
        here = Projection(plan, Genealogy.from_arrow(synth.network(300, seed=7)), period="2026-12")
        here.apply(live_server.events_table(events, plan))
        for member in ("M00000001", "M00000002", "M00000017"):
            deadline = time.monotonic() + 30
            while True:  # the server's view is published by its background thread
                status, got = _call(f"{base}/members/{member}")
                if got.get("as_of") == 120 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert status == 200 and got == here.member(member)
        assert _call(f"{base}/members/NOBODY")[0] == 404
        assert _call(f"{base}/events", {"not": "a list"})[0] == 400
        assert _call(f"{base}/events", [1])[0] == 400
        status, summary = _call(f"{base}/summary")
        assert status == 200 and summary == here.snapshot().summary.to_pylist()
    finally:
        server.terminate()
        server.wait(timeout=30)
