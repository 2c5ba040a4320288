"""A stand-in for a team's load balancer in front of several edges: plain TCP, each new
connection to the first edge that takes it (an edge whose host died refuses, and the next
one answers). The browser sees one origin whichever edge serves it, as behind a real one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.close()


@contextlib.asynccontextmanager
async def balancer(port: int, edges: Sequence[int]) -> AsyncIterator[None]:
    """Listen on loopback ``port`` and pass each connection to the first of ``edges`` (ports
    on loopback) that accepts it, until the block ends."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for edge in edges:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", edge)
            except OSError:
                continue
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            return
        writer.close()

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(serve(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(track, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
