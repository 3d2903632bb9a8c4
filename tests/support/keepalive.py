"""An HTTP/1.1 client connection kept open between requests, spoken directly over asyncio
streams: a validator's or till's connection to its node. Used by the tests and the benchmarks.

Light on purpose: a load generator shares the machine with the server it measures, and httpx
spent ~2 ms of CPU on each request (0.4–0.6 of a core at 200 requests/s). This one spends a
small fraction of that, and it keeps exactly one connection per terminal, as devices do.
"""

from __future__ import annotations

import asyncio


class KeepAliveConnection:
    """One client's connection to ``host:port``, opened on first use and again after the
    server closed it (``Connection: close``) or the caller did (:meth:`close`)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send one request and read its whole answer: (status, body)."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"Content-Length: {len(body)}"] if body or method == "POST" else []
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status = int((await reader.readline()).split()[1])
        length, close = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise OSError("chunked answers are not expected from these endpoints")
        payload = await reader.readexactly(length)
        if close:
            self.close()
        return status, payload

    async def open(self) -> None:
        """Connect now, before the first request."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None
