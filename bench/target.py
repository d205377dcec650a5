"""The benchmark's HTTP target, in its own process: `python -m bench.target [--delay-ms N]` prints its
port, then serves.

Every `GET /e/NAME` answers `{"endpoint": NAME}` after 200 ms, or `--delay-ms` (`/e/slow` after 2.5 s
whatever the delay), and closes its connection. It counts, at the server, the TCP connections it accepts
and the requests per path; `GET /__counts` returns them as JSON and `POST /__reset` zeroes them (neither
is counted).

Why not the demo's uvicorn app: the benchmark measures healthsuite, so its target must cost next to
nothing. A thousand requests through uvicorn and Starlette cost the target a second or two of CPU on
a 2-core machine, in the same process (and GIL) as the benchmark's DNS server and RSS sampler; the
measured probe latencies were then the target's queueing. This is a bare asyncio HTTP/1.1 responder in
a process of its own; httpx on the client side is the real thing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter

ENDPOINT_DELAY_S = 0.2
SLOW_DELAY_S = 2.5
MAX_HEAD_BYTES = 16384


class Counts:
    def __init__(self) -> None:
        self.connections = 0
        self.silent = 0  # connections that sent no request
        self.requests: Counter[str] = Counter()  # "GET /e/n1" -> requests

    def reset(self) -> None:
        self.connections = self.silent = 0
        self.requests.clear()

    def as_json(self) -> bytes:
        data = {"connections": self.connections, "silent": self.silent, "requests": dict(self.requests)}
        return json.dumps(data).encode()


def response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return (head + "connection: close\r\n\r\n").encode() + body


async def serve_one(
    counts: Counts, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float = ENDPOINT_DELAY_S
) -> None:
    try:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            counts.connections += 1
            counts.silent += 1
            return
        method, path = (head.split(b"\r\n", 1)[0].decode("latin-1").split(" ") + ["", ""])[:2]
        if path == "/__counts":
            writer.write(response("200 OK", counts.as_json()))
        elif path == "/__reset" and method == "POST":
            counts.reset()
            writer.write(response("200 OK", b"{}"))
        else:
            counts.connections += 1
            counts.requests[f"{method} {path}"] += 1
            name = path.rsplit("/", 1)[-1]
            await asyncio.sleep(SLOW_DELAY_S if path == "/e/slow" else delay_s)
            status = "200 OK" if path.startswith("/e/") else "404 Not Found"
            writer.write(response(status, json.dumps({"endpoint": name}).encode()))
        await writer.drain()
    finally:
        writer.close()


async def main(delay_s: float = ENDPOINT_DELAY_S) -> None:
    counts = Counts()
    server = await asyncio.start_server(
        lambda r, w: serve_one(counts, r, w, delay_s), "127.0.0.1", 0, backlog=4096, limit=MAX_HEAD_BYTES
    )
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


def parse_delay_s(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(prog="python -m bench.target", description=__doc__.splitlines()[0])
    default_ms = ENDPOINT_DELAY_S * 1000
    parser.add_argument("--delay-ms", type=float, default=default_ms,
                        help=f"how long every /e/NAME but /e/slow takes to answer, in ms (default {default_ms:g})")
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must be 0 or more")
    return float(args.delay_ms) / 1000


if __name__ == "__main__":
    delay = parse_delay_s()
    try:
        asyncio.run(main(delay))
    except KeyboardInterrupt:
        sys.exit(0)
