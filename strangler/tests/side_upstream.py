"""A tiny keep-alive HTTP/1.1 upstream that answers {"side": <name>} (run as a process by tests).

Usage: python side_upstream.py NAME [PORT]; prints "upstream ready port=N" once listening.
Paths containing /slow are answered after one second.
"""

from __future__ import annotations

import asyncio
import json
import sys


class SideProtocol(asyncio.Protocol):
    def __init__(self, body: bytes) -> None:
        self.response = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            if b"/slow" in head.split(b"\r\n", 1)[0]:  # answer after a second: a request in flight
                asyncio.get_running_loop().call_later(1.0, self.transport.write, self.response)
            else:
                self.transport.write(self.response)


async def main(name: str, port: int) -> None:
    body = json.dumps({"side": name}).encode()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SideProtocol(body), "127.0.0.1", port, backlog=1024)
    print(f"upstream ready port={server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
    except KeyboardInterrupt:
        pass
