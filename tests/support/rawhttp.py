"""HTTP/1.1 GET with the path sent byte for byte (clients normalise ``..`` away)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


async def raw_get(
    base_url: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    extra = "".join(f"{key}: {value}\r\n" for key, value in (headers or {}).items())
    request = f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\n{extra}Connection: close\r\n\r\n"
    writer.write(request.encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body
