"""A live period behind a small HTTP endpoint on loopback, with the standard library only: how a backend
service embeds :class:`mlm_core.Projection`.

    .venv/bin/python scripts/live_server.py --members 100000 --port 8765 [--store live.duckdb]

Then, from another shell:

    curl -s -X POST localhost:8765/events -d '[{"event_id": "e1", "kind": "order",
          "member_id": "M00000002", "pv": 10000, "bv": 8000}]'
    curl -s localhost:8765/members/M00000001
    curl -s localhost:8765/summary

``POST /events`` takes a JSON list of events (the columns of ``Projection.apply``) and answers the last
sequence number and the rejected events with their reasons; ``GET /members/<id>`` answers
``Projection.member``; ``GET /summary`` the snapshot's summary (an exact period: a full recomputation);
``GET /health`` the applied and the published sequence numbers. A background thread keeps the published
view fresh, so member lookups never compute. With ``--store`` the events are kept in a DuckDB file and a
restart replays them.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlm_core import Genealogy, InputError, MlmCoreError, Plan, Store, synth
from mlm_core.projection import FIELDS, Projection

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "example-plan.toml"


def events_table(events: list[dict[str, Any]], plan: Plan) -> pa.Table:
    """A JSON list of events as the Arrow table ``apply`` takes (absent fields are nulls)."""
    columns: dict[str, pa.Array] = {}
    for name in ("event_id", "kind", "member_id", *FIELDS):
        columns[name] = pa.array([None if e.get(name) is None else str(e[name]) for e in events], pa.string())
    for name in plan.volume_columns:
        columns[name] = pa.array([e.get(name) for e in events], pa.int64())
    return pa.table(columns)


def handler(live: Projection) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            try:
                if self.path.startswith("/members/"):
                    member_id = self.path.removeprefix("/members/")
                    try:
                        self._send(200, live.member(member_id))
                    except InputError as exc:
                        self._send(404, {"error": str(exc)})
                elif self.path == "/summary":
                    self._send(200, live.snapshot().summary.to_pylist())
                elif self.path == "/health":
                    error = live.refresh_error
                    self._send(200, {"seq": live.seq, "published": live._core.view_seq(),
                                     "recompute_error": str(error) if error else None})
                else:
                    self._send(404, {"error": f"no route {self.path}"})
            except MlmCoreError as exc:  # the events make the period fail (a total out of int64, say)
                self._send(409, {"error": str(exc)})

        def do_POST(self) -> None:
            if self.path != "/events":
                self._send(404, {"error": f"no route {self.path}"})
                return
            try:
                events = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
                    raise ValueError("the body must be a JSON list of event objects")
                seq = live.apply(events_table(events, live.plan))
            except (ValueError, MlmCoreError) as exc:  # InputError is a ValueError too
                self._send(400, {"error": str(exc)})
                return
            self._send(200, {"seq": seq, "rejected": live.rejected.to_pylist()})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000, help="size of the synthetic network")
    parser.add_argument("--plan", default=str(SPEC), help="compensation plan TOML")
    parser.add_argument("--period", default="2026-12")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--store", help="DuckDB file the events are kept in (replayed on start)")
    args = parser.parse_args(argv)
    plan = Plan.from_toml(Path(args.plan))
    genealogy = Genealogy.from_arrow(synth.network(args.members, seed=7))
    store = Store(args.store) if args.store else None
    live = Projection(plan, genealogy, period=args.period, store=store)
    live.refresh()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(live))
    print(f"listening on http://127.0.0.1:{server.server_address[1]} ({len(genealogy)} members, "
          f"{live.seq} events replayed)", flush=True)
    with live.start():
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            if store is not None:
                store.close()


if __name__ == "__main__":
    sys.exit(main())
