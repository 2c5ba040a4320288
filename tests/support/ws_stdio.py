"""ssh's ProxyCommand in tests: standard input and output carried over one WebSocket in
binary frames, the way a client reaches a workspace's SSH bridge.

    ssh -o ProxyCommand="python ws_stdio.py ws://ADDRESS:PORT/" ...
"""

from __future__ import annotations

import os
import sys
import threading

from websockets.sync.client import ClientConnection, connect


def _upstream(ws: ClientConnection) -> None:
    while chunk := os.read(0, 65536):
        ws.send(chunk)
    ws.close()


def main(url: str) -> None:
    with connect(url, max_size=None) as ws:
        threading.Thread(target=_upstream, args=(ws,), daemon=True).start()
        for message in ws:
            os.write(1, message if isinstance(message, bytes) else message.encode())


if __name__ == "__main__":
    main(sys.argv[1])
