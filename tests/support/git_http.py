"""A git smart-HTTP server for tests: ``git http-backend`` behind Python's CGI server, where
repositories under ``/private/`` need HTTP basic auth (``--user NAME:SECRET``).

Run as a program, inside a network namespace a test made (``support.git_server``).
"""

from __future__ import annotations

import argparse
import base64
import http.server
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", required=True)
    parser.add_argument("--user", default="")
    args = parser.parse_args()
    wanted = "Basic " + base64.b64encode(args.user.encode()).decode()

    class Handler(http.server.CGIHTTPRequestHandler):
        def _allowed(self) -> bool:
            if "/private/" not in self.path or self.headers.get("Authorization") == wanted:
                return True
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False

        def do_GET(self) -> None:
            if self._allowed():
                super().do_GET()

        def do_POST(self) -> None:
            if self._allowed():
                super().do_POST()

    os.chdir(args.directory)
    server = http.server.ThreadingHTTPServer((args.bind, args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
