"""Stand-in destinations for tests: a network namespace joined to the host by a veth pair,
holding one address and a program that answers there. A workspace's packets to it take the
host's real forwarding path (Tidepool's firewall, then Incus's NAT) and end in the namespace,
never leaving this machine."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StandIn:
    """A destination inside namespace ``namespace``, reached through the veth ``host_end``."""

    kind: str
    address: str
    host_address: str
    block: str
    namespace: str
    host_end: str


def ip(*argv: str) -> str:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"ip {' '.join(argv)}: {done.stderr.strip()}"
    return done.stdout


def collisions(block: str, wider_allowed: int = 0) -> list[str]:
    """Addresses and routes of this machine that overlap ``block``; routes no longer than
    ``wider_allowed`` bits (say a link-local catch-all) are overridden by our /32s, so pass."""
    wanted = ipaddress.ip_network(block)
    found = []
    for link in json.loads(ip("-json", "-4", "address", "show")):
        for info in link.get("addr_info", []):
            network = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").network
            if network.overlaps(wanted):
                found.append(f"{info['local']}/{info['prefixlen']} on {link['ifname']}")
    for route in json.loads(ip("-json", "-4", "route", "show", "table", "all")):
        if route["dst"] == "default":
            continue
        network = ipaddress.ip_network(route["dst"], strict=False)
        if network.overlaps(wanted) and network.prefixlen > wider_allowed:
            found.append(f"route {route['dst']} dev {route.get('dev', '?')}")
    return found


def answer(address: str, device: str, port: int, timeout: float = 2.0) -> str:
    """Connect from the host, bound to ``device`` so the packet cannot go elsewhere, and
    return the line the stand-in sends."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        client.settimeout(timeout)
        client.connect((address, port))
        return client.makefile().readline().strip()


def build(stand_in: StandIn, command: Sequence[str]) -> subprocess.Popen[bytes]:
    """Make the namespace and the veth, route the stand-in's /32 into it, and start
    ``command`` inside; the namespace knows only the host's end of the veth."""
    namespace, host_end, peer = stand_in.namespace, stand_in.host_end, stand_in.host_end + "n"
    ip("netns", "add", namespace)
    ip("link", "add", host_end, "type", "veth", "peer", "name", peer, "netns", namespace)
    ip("address", "add", f"{stand_in.host_address}/32", "dev", host_end)
    ip("link", "set", host_end, "up")
    ip("route", "add", f"{stand_in.address}/32", "dev", host_end, "src", stand_in.host_address)
    inside = ("-n", namespace)
    ip(*inside, "link", "set", "lo", "up")
    ip(*inside, "address", "add", f"{stand_in.address}/32", "dev", peer)
    ip(*inside, "link", "set", peer, "up")
    # The host's end and nothing else: no default route, no way back to the bridge's subnet.
    ip(*inside, "route", "add", f"{stand_in.host_address}/32", "dev", peer)
    return subprocess.Popen(
        ["ip", "netns", "exec", namespace, *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
