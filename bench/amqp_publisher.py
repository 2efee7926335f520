"""A fast AMQP 0-9-1 publisher for the UOF benchmark, as its own process.

It logs in (PLAIN), opens channel 1 and writes Basic.Publish frames built once in advance
(method, content header, body) in large writes on a blocking socket, without publisher
confirms; the broker's own flow control (it stops reading the socket) sets the pace. It ends
with Connection.Close and returns once the broker's CloseOk came back: the broker has then
handled every publish before it. A publisher that encodes each message as it goes (aiormq)
is slower than the ingestor it is to measure (docs/decisions/0007).

    python -m bench.amqp_publisher --url amqp://u:p@host:5672/vhost --count N
        --exchange unifiedfeed < messages.json   # [[routing_key, body], ...]

prints ``{"messages": N, "seconds": ...}``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

from pamqp import commands, frame, header
from pamqp.base import Frame
from pamqp.body import ContentBody

FRAME_MAX = 131_072
#: Messages per write: ~1 MB of frames.
CHUNK = 1000


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        got = sock.recv(size - len(data))
        if not got:
            raise ConnectionError("the broker closed the connection")
        data += got
    return bytes(data)


def read_method(sock: socket.socket) -> Frame:
    """The next method frame (heartbeats skipped)."""
    while True:
        head = _read_exactly(sock, 7)
        size = int.from_bytes(head[3:7], "big")
        _, _, value = frame.unmarshal(head + _read_exactly(sock, size + 1))
        if isinstance(value, Frame):
            if isinstance(value, commands.Connection.Close | commands.Channel.Close):
                raise ConnectionError(f"the broker closed: {value.reply_code} "
                                      f"{value.reply_text}")
            return value


def expect(sock: socket.socket, kind: type[Frame]) -> Frame:
    value = read_method(sock)
    if not isinstance(value, kind):
        raise ConnectionError(f"expected {kind.name}, got {value.name}")
    return value


def connect(url: str) -> socket.socket:
    """Log in and open channel 1 (no heartbeats: the run is short)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(header.ProtocolHeader().marshal())
    expect(sock, commands.Connection.Start)
    credentials = f"\0{unquote(parts.username or '')}\0{unquote(parts.password or '')}"
    sock.sendall(frame.marshal(commands.Connection.StartOk(
        client_properties={"product": "bench.amqp_publisher"}, response=credentials), 0))
    tune = expect(sock, commands.Connection.Tune)
    assert isinstance(tune, commands.Connection.Tune)  # noqa: S101 (for the type checker)
    frame_max = min(tune.frame_max or FRAME_MAX, FRAME_MAX)
    sock.sendall(frame.marshal(commands.Connection.TuneOk(tune.channel_max, frame_max, 0), 0))
    vhost = unquote(parts.path[1:]) or "/"
    sock.sendall(frame.marshal(commands.Connection.Open(virtual_host=vhost), 0))
    expect(sock, commands.Connection.OpenOk)
    sock.sendall(frame.marshal(commands.Channel.Open(), 1))
    expect(sock, commands.Channel.OpenOk)
    return sock


def publish_frames(exchange: str, routing_key: str, body: bytes) -> bytes:
    """One message's frames: Basic.Publish, its content header, its body (one frame here)."""
    if len(body) > FRAME_MAX - 8:
        raise ValueError("bodies of more than one frame are not needed here")
    return (frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routing_key), 1)
            + frame.marshal(header.ContentHeader(0, len(body), commands.Basic.Properties()), 1)
            + frame.marshal(ContentBody(body), 1))


def publish(url: str, exchange: str, messages: Sequence[tuple[str, bytes]], count: int) -> float:
    """Publish ``count`` messages, cycling through ``messages``; return the seconds from the
    first write to the broker's CloseOk."""
    built = [publish_frames(exchange, key, body) for key, body in messages]
    sock = connect(url)
    try:
        started = time.perf_counter()
        position = 0
        while position < count:
            take = min(CHUNK, count - position)
            sock.sendall(b"".join(built[(position + i) % len(built)] for i in range(take)))
            position += take
        sock.sendall(frame.marshal(commands.Connection.Close(200, "done", 0, 0), 0))
        expect(sock, commands.Connection.CloseOk)
        return time.perf_counter() - started
    finally:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    messages = [(key, body.encode()) for key, body in json.load(sys.stdin)]
    seconds = publish(args.url, args.exchange, messages, args.count)
    print(json.dumps({"messages": args.count, "seconds": seconds}))


if __name__ == "__main__":
    main()
