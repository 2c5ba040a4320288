"""HTTPS: a certificate Caddy obtains and renews itself, and plain HTTP that only redirects.

Off by default (a LAN over HTTP). ``internal`` takes a certificate from Caddy's own CA,
``acme`` from a public CA for a real domain. Kept apart from the routes because it changes
how the server listens, not how a request is routed.
"""

from __future__ import annotations

from tidepool.adapters.caddy.config.options import CaddyOptions
from tidepool.adapters.caddy.config.variables import JSON


def https_listener(options: CaddyOptions) -> JSON:
    """What the main server needs to serve HTTPS on ``https_listen``.

    Caddy's own HTTP→HTTPS redirects are off: ``redirect_server`` does that on ``listen``.
    """
    return {
        "listen": [options.https_listen],
        "automatic_https": {"disable_redirects": True},
        "tls_connection_policies": [{}],
    }


def tls_apps(options: CaddyOptions) -> JSON:
    """The apps HTTPS needs beside ``http``: the certificate, and the local CA kept untrusted."""
    return {
        "tls": tls_app(options),
        "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
    }


def redirect_server(options: CaddyOptions) -> JSON:
    """Plain HTTP only sends people to HTTPS (308 keeps the method)."""
    port = options.https_listen.rsplit(":", 1)[-1]
    suffix = "" if port == "443" else f":{port}"
    return {
        "listen": [options.listen],
        "automatic_https": {"disable": True},
        "routes": [
            {
                "handle": [
                    {
                        "handler": "static_response",
                        "status_code": 308,
                        "headers": {
                            "Location": [
                                f"https://{{http.request.host}}{suffix}{{http.request.uri}}"
                            ]
                        },
                    }
                ]
            }
        ],
    }


def tls_app(options: CaddyOptions) -> JSON:
    """A certificate for ``domain`` and the workspace origins, from Caddy's internal CA or by
    ACME, renewed by Caddy.

    The internal CA's root is not added to the host's trust store (Caddy would by default):
    users install it themselves (``DATA_DIR/caddy/storage/pki/authorities/local/root.crt``).
    """
    issuer = {"module": "internal"} if options.tls == "internal" else {"module": "acme"}
    subjects = [options.domain]
    if options.workspace_domain and not options.serve_paths:
        # Every workspace origin: one wildcard (a public CA issues it only by a DNS challenge).
        subjects.append(f"*.{options.workspace_domain}")
    return {
        "certificates": {"automate": subjects},
        "automation": {"policies": [{"subjects": subjects, "issuers": [issuer]}]},
    }
