"""Soak: mixed traffic at 80% of the measured maximum for 10 minutes, against the real server on Amazon Beauty.

    python bench/soak.py                       # loads Beauty into a temporary LocalStore first
    python bench/soak.py --store local:DIR     # a store loaded before (kgrec load --store local:DIR ...)
    python bench/soak.py --minutes 1           # a short run

One run measures everything, so every figure comes from the same machine state:

1. `kgrec load` of the Beauty meta and reviews into a temporary LocalStore (unless --store is given).
2. `kgrec serve` as a subprocess (one uvicorn worker), with a frontend API key.
3. Warm-up: `bundle` and `similar` once for every product of the pool (the products customers reviewed) and
   every session of the pool filled by `trackEvent` and asked for its `recommendations`, so caches and session
   state have reached their steady size before memory is first read (a cache filling up is not a leak).
4. Unloaded latency: the mix, one request at a time.
5. Maximum throughput, two ways: a closed loop of --connections keep-alive connections for --max-seconds (each
   connection sends its next request when the last is answered), then the sustained maximum: open-loop steps of
   --step-seconds at rising rates (from half the closed-loop figure, in tenths of it) until a step misses
   Pixie's service level (p99 within --slo-ms, every request answered within the step); the last step that
   held is the maximum. Paced arrivals queue where a closed loop would just slow down, so the two differ.
6. Soak: an open loop at --load (0.8) of the sustained maximum for --minutes. Requests leave on a fixed schedule
   whether or not earlier ones came back, and each one's latency counts from its scheduled time, so a stall shows
   up in the figures instead of silently slowing the client down (no coordinated omission). The latency from
   each request's write is printed beside it: the difference is the wait for a free connection and the client's own
   1 ms dispatch ticks (epoll's resolution), which the closed-loop unloaded figure does not have.

The mix: bundle 35%, similar 35%, session recommendations 20%, trackEvent 10%, over a fixed pool of sessions.
Memory is the server's resident set (psutil) after the warm-up, before the soak, every minute and at the end.
An error is any status but 200, a body with GraphQL errors, or a failed connection. The client is raw asyncio
HTTP/1.1 on pre-encoded requests (a few microseconds each), sharing the machine with the server: the maximum is
that of the pair, measured here, not of the server alone. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
BEAUTY = ROOT.parent / "shared" / "data" / "amazon-beauty"
KEY = "soak-key"
MIX = (("bundle", 0.35), ("similar", 0.35), ("recommendations", 0.20), ("trackEvent", 0.10))
QUERIES = {
    "bundle": "query($id: ID!) { bundle(productId: $id, k: 10) { score reason product { id title } } }",
    "similar": "query($id: ID!) { similar(productId: $id, k: 10) { score reason product { id title } } }",
    "recommendations": "query($s: ID!) { recommendations(sessionId: $s, k: 10) { score reason product { id title } } }",
    "trackEvent": "mutation($s: ID!, $id: ID!, $t: EventType!) { trackEvent(sessionId: $s, productId: $id, type: $t) }",
}
EVENTS = ("VIEW", "VIEW", "CART", "PURCHASE")
N_SESSIONS = 2000
N_REQUESTS = 50_000  # distinct pre-encoded requests of the mix, cycled through


def run(main: Any) -> Any:
    """The client's event loop: uvloop where installed (the server's own loop), which leaves more of the
    machine's two cores to the server; asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


# Timestamps from the performance counter, not the event loop's clock: uvloop's counts whole milliseconds.
clock = time.perf_counter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encode(query: str, variables: dict[str, str]) -> bytes:
    body = json.dumps({"query": query, "variables": variables}).encode()
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def request(kind: str, product: str, session: str, rng: random.Random) -> bytes:
    if kind in ("bundle", "similar"):
        return encode(QUERIES[kind], {"id": product})
    if kind == "recommendations":
        return encode(QUERIES[kind], {"s": session})
    return encode(QUERIES[kind], {"s": session, "id": product, "t": rng.choice(EVENTS)})


def mixed(products: list[str], sessions: list[str], n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=n)
    return [request(k, rng.choice(products), rng.choice(sessions), rng) for k in kinds]


@dataclass
class Record:
    """Latencies (seconds) with the time each request was due, and the errors, of one phase."""

    due: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # open loop only: from the moment the request was written to the answer, without the wait for its turn
    from_send: list[float] = field(default_factory=list)

    def percentiles(self, of: str = "latency") -> tuple[float, float]:
        lat = np.asarray(getattr(self, of)) * 1e3
        return (float(np.percentile(lat, 50)), float(np.percentile(lat, 99))) if len(lat) else (0.0, 0.0)


class Connection:
    """One keep-alive HTTP/1.1 connection: send pre-encoded requests, read whole responses by Content-Length."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, raw: bytes) -> str | None:
        """None when the answer is a 200 without GraphQL errors, else what went wrong."""
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await self.reader.readexactly(length)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            StopIteration,
            ValueError,
        ) as e:
            self.close()
            return f"{type(e).__name__}: {e}"
        if status != 200:
            return f"HTTP {status}: {body[:200]!r}"
        if b'"errors"' in body:
            return f"GraphQL errors: {body[:200]!r}"
        return None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def closed_loop(port: int, requests: list[bytes], connections: int, seconds: float | None) -> Record:
    """Each connection sends the next request as soon as its last answer is in; all of `requests` once when
    `seconds` is None, else cycling through them until `seconds` have passed."""
    rec = Record()
    end = None if seconds is None else clock() + seconds
    position = iter(range(len(requests))) if seconds is None else None
    counter = [0]

    def take() -> bytes | None:
        if position is not None:
            i = next(position, None)
            return None if i is None else requests[i]
        if clock() >= end:  # type: ignore[operator]
            return None
        counter[0] += 1
        return requests[counter[0] % len(requests)]

    async def worker() -> None:
        conn = Connection(port)
        while (raw := take()) is not None:
            start = clock()
            error = await conn.send(raw)
            rec.due.append(start)
            rec.latency.append(clock() - start)
            if error:
                rec.errors.append(error)
        conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return rec


async def open_loop(
    port: int, requests: list[bytes], rate: float, seconds: float, connections: int, on_minute: object
) -> Record:
    """Requests due at t0 + i / rate, handed to free connections; latency from the due time to the answer.

    The connections are opened before t0, so a phase's first second does not time TCP handshakes."""
    rec = Record()
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    n = int(rate * seconds)
    conns = [Connection(port) for _ in range(connections)]
    for c in conns:
        c.reader, c.writer = await asyncio.open_connection("127.0.0.1", port)
    t0 = clock()

    async def dispatch() -> None:
        i, minute = 0, 1
        while i < n:
            due_now = min(n, int((clock() - t0) * rate) + 1)
            for j in range(i, due_now):
                queue.put_nowait((t0 + j / rate, requests[j % len(requests)]))
            i = due_now
            if clock() - t0 >= 60 * minute:
                on_minute(minute, rec)  # type: ignore[operator]
                minute += 1
            await asyncio.sleep(max(0.001, t0 + i / rate - clock()))  # 1 ms ticks: the client needs CPU too
        for _ in range(connections):
            queue.put_nowait(None)

    async def worker(conn: Connection) -> None:
        while (item := await queue.get()) is not None:
            due, raw = item
            sent = clock()
            error = await conn.send(raw)
            done = clock()
            rec.due.append(due - t0)
            rec.latency.append(done - due)
            rec.from_send.append(done - sent)
            if error:
                rec.errors.append(error)
        conn.close()

    await asyncio.gather(dispatch(), *(worker(c) for c in conns))
    return rec


def sustained_max(
    port: int, traffic: list[bytes], closed_max: float, connections: int, step_s: float, slo_ms: float
) -> dict[str, float]:
    """The highest open-loop rate, in steps of a tenth of the closed-loop maximum from half of it, whose step
    answered every request within the step (plus a second) and kept p99 within `slo_ms`."""
    best: dict[str, float] = {"rps": 0.0}
    for tenth in range(5, 21):
        rate = closed_max * tenth / 10
        t = clock()
        rec = run(open_loop(port, traffic, rate, step_s, 4 * connections, lambda *_: None))
        took = clock() - t
        p50, p99 = rec.percentiles()
        held = not rec.errors and took <= step_s + 1.0 and p99 <= slo_ms
        print(
            f"  step at {rate:8,.0f}/s: {len(rec.latency) / took:8,.0f}/s answered, p50 {p50:7.2f} ms, "
            f"p99 {p99:8.2f} ms, {len(rec.errors)} errors: {'held' if held else 'missed'}",
            flush=True,
        )
        if not held:
            break
        best = {"rps": rate, "p50_ms": p50, "p99_ms": p99, "closed_loop_share": tenth / 10}
        time.sleep(1.0)  # let the server settle before the next step
    print(
        f"sustained maximum: {best['rps']:,.0f}/s ({best.get('closed_loop_share', 0):.1f}x the closed loop)"
    )
    return best


def rss_mb(proc: psutil.Process) -> float:
    return proc.memory_info().rss / 2**20


def load_beauty(folder: Path) -> str:
    spec = f"local:{folder}"
    cmd = [sys.executable, "-m", "kgrec", "load", "--store", spec, "--no-progress"]
    cmd += [
        "--meta",
        str(BEAUTY / "meta_Beauty.json.gz"),
        "--reviews",
        str(BEAUTY / "reviews_Beauty_5.json.gz"),
    ]
    cmd += ["--quarantine", str(folder / "quarantine.jsonl")]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"loaded Beauty into {spec} in {time.perf_counter() - t:.0f} s", flush=True)
    return spec


def pool() -> list[str]:
    """The products customers reviewed (the 5-core items): the ones a shop's traffic is about."""
    with gzip.open(BEAUTY / "reviews_Beauty_5.json.gz", "rt") as f:
        return sorted({json.loads(line)["asin"] for line in f})


def serve(spec: str, port: int, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    cmd = [sys.executable, "-m", "kgrec", "serve", "--store", spec, "--port", str(port)]
    env = {**os.environ, "KGREC_API_KEYS": f"{KEY}:frontend"}
    t = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc, time.perf_counter() - t
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"server not ready in 600 s:\n{log.read_text()}")
        time.sleep(0.5)


def summary(name: str, rec: Record, seconds: float) -> dict[str, float]:
    p50, p99 = rec.percentiles()
    out = {"requests": len(rec.latency), "rps": len(rec.latency) / seconds, "p50_ms": p50, "p99_ms": p99}
    out["errors"] = len(rec.errors)
    print(
        f"{name:<12} {out['requests']:>9,} requests {out['rps']:>8,.0f}/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
        f"   errors {out['errors']}",
        flush=True,
    )
    if rec.from_send:
        out["from_send_p50_ms"], out["from_send_p99_ms"] = rec.percentiles("from_send")
        print(
            f"{'':<12} from each request's write (without its wait for a connection and the client's 1 ms"
            f" ticks): p50 {out['from_send_p50_ms']:.2f} ms, p99 {out['from_send_p99_ms']:.2f} ms",
            flush=True,
        )
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default %(default)s)")
    p.add_argument("--store", help="a store loaded before (default: load Beauty into a temporary LocalStore)")
    p.add_argument(
        "--load", type=float, default=0.8, help="soak rate as a share of the maximum (default %(default)s)"
    )
    p.add_argument(
        "--max-seconds", type=float, default=20.0, help="closed-loop maximum phase (default %(default)s)"
    )
    p.add_argument("--connections", type=int, default=8, help="keep-alive connections (default %(default)s)")
    p.add_argument(
        "--step-seconds",
        type=float,
        default=10.0,
        help="each step of the sustained maximum (default %(default)s)",
    )
    p.add_argument(
        "--slo-ms",
        type=float,
        default=60.0,
        help="p99 a sustained step keeps within (default %(default)s, Pixie's)",
    )
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kgrec-soak-"))
    spec = args.store or load_beauty(tmp / "store")
    products = pool()
    sessions = [f"soak-{i}" for i in range(N_SESSIONS)]
    port = free_port()
    proc, ready_s = serve(spec, port, tmp / "server.log")
    server = psutil.Process(proc.pid)
    print(f"server ready in {ready_s:.0f} s, pid {proc.pid}; pool {len(products):,} products", flush=True)
    figures: dict[str, object] = {
        "pool_products": len(products),
        "sessions": N_SESSIONS,
        "cpus": os.cpu_count(),
    }
    try:
        rng = random.Random(1)
        warm = [encode(QUERIES[k], {"id": pid}) for pid in products for k in ("bundle", "similar")]
        warm += [request("trackEvent", rng.choice(products), s, rng) for s in sessions for _ in range(3)]
        warm += [request("recommendations", "", s, rng) for s in sessions]
        t = time.perf_counter()
        rec = run(closed_loop(port, warm, args.connections, None))
        figures["warmup"] = summary("warm-up", rec, time.perf_counter() - t)
        rss_start = rss_mb(server)
        print(f"server RSS after warm-up: {rss_start:.1f} MiB", flush=True)

        traffic = mixed(products, sessions, N_REQUESTS)
        t = time.perf_counter()
        figures["unloaded"] = summary(
            "unloaded", run(closed_loop(port, traffic[:2000], 1, None)), time.perf_counter() - t
        )
        figures["max"] = summary(
            "maximum",
            run(closed_loop(port, traffic, args.connections, args.max_seconds)),
            args.max_seconds,
        )
        figures["sustained"] = sustained_max(
            port,
            traffic,
            figures["max"]["rps"],
            args.connections,
            args.step_seconds,
            args.slo_ms,  # type: ignore[index]
        )
        rate = args.load * figures["sustained"]["rps"]  # type: ignore[index]
        rss_before = rss_mb(server)
        print(
            f"soak: {args.minutes:g} min open loop at {rate:,.0f}/s; RSS before {rss_before:.1f} MiB",
            flush=True,
        )
        per_minute: list[dict[str, float]] = []

        seen = [0]  # records already looked at: each minute reads only the new ones

        def on_minute(minute: int, rec: Record) -> None:
            # the requests due in this minute and answered by its end
            due = np.asarray(rec.due[seen[0] :])
            lat = np.asarray(rec.latency[seen[0] :])[(due >= 60 * (minute - 1)) & (due < 60 * minute)] * 1e3
            seen[0] += len(due)
            row = {"minute": minute, "requests": len(lat), "rss_mib": rss_mb(server)}
            if len(lat):
                row |= {"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}
            per_minute.append(row)
            print(
                f"  minute {minute}: " + ", ".join(f"{k} {v:,.1f}" for k, v in row.items() if k != "minute"),
                flush=True,
            )

        seconds = 60 * args.minutes
        t = time.perf_counter()
        rec = run(open_loop(port, traffic, rate, seconds, 4 * args.connections, on_minute))
        figures["soak"] = summary("soak", rec, time.perf_counter() - t)
        figures["soak"]["target_rps"] = rate  # type: ignore[index]
        figures["per_minute"] = per_minute
        rss_end = rss_mb(server)
        figures["rss_mib"] = {"after_warmup": rss_start, "before_soak": rss_before, "end": rss_end}
        figures["rss_growth_pct"] = 100 * (rss_end - rss_start) / rss_start
        print(
            f"RSS: after warm-up {rss_start:.1f} MiB, before soak {rss_before:.1f}, end {rss_end:.1f} "
            f"({figures['rss_growth_pct']:+.1f}% since warm-up; goal < 5%)",
            flush=True,
        )
        if rec.errors:
            print(f"first errors: {rec.errors[:5]}", flush=True)
        metrics_text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        figures["sessions_held"] = next(
            float(line.split()[1]) for line in metrics_text.splitlines() if line.startswith("kgrec_sessions ")
        )
        # garbage collections over the whole run, by generation: how many, how long in all, and how many took
        # over 50 ms (each one stalls every request in flight)
        gc_stats: dict[str, dict[str, float]] = {}
        for line in metrics_text.splitlines():
            for gen in ("0", "1", "2"):
                tag = f'generation="{gen}"'
                if line.startswith("kgrec_gc_pause_seconds_count{" + tag):
                    gc_stats.setdefault(gen, {})["count"] = float(line.split()[-1])
                elif line.startswith("kgrec_gc_pause_seconds_sum{" + tag):
                    gc_stats.setdefault(gen, {})["seconds"] = float(line.split()[-1])
                elif line.startswith("kgrec_gc_pause_seconds_bucket{" + tag + ',le="0.05"}'):
                    gc_stats.setdefault(gen, {})["le_50ms"] = float(line.split()[-1])
        for st in gc_stats.values():
            st["over_50ms"] = st.get("count", 0) - st.pop("le_50ms", 0)
        figures["gc"] = gc_stats
        print(f"garbage collections: {gc_stats}", flush=True)
        print(json.dumps(figures, indent=2), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if args.store is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
