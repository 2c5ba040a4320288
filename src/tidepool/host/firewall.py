"""The host's firewall for workspaces: the host answers DNS and DHCP; the way out is the internet.

code-server runs with ``--auth none`` because only Caddy may reach it, and Caddy checks
who is asking. A workspace may run hostile code, so what it reaches is kept small too:

- workspace to workspace: the profile's NIC has ``security.port_isolation`` (the bridge
  forwards nothing between two isolated ports), and the ``forward`` chain refuses what a
  workspace sends back out of the bridge through the host's routing;
- workspace to host: the ``input`` chain drops every packet that enters the host from the
  bridge, whatever address it was sent to (the bridge's, the LAN's), except DNS and DHCP
  (which the bridge's dnsmasq serves) and replies to connections the host opened (Caddy
  proxying to code-server);
- the host's other accounts to workspaces: the ``output`` chain resets every TCP connection
  a process on the host opens into the bridge unless it runs as root. code-server and the
  forwarded ports trust whoever connects (Caddy checked them), so a local account (a CI
  runner, a compromised service) must not connect at all; Caddy, incusd and ``serve`` run as
  root. Only new TCP connections are refused: the bridge's dnsmasq answers DNS and DHCP as
  an account of its own;
- workspace to the rest (egress): the ``forward`` chain refuses, with an ICMP
  "administratively prohibited" so tools fail at once instead of hanging, what the host
  would forward from the bridge to link-local addresses (169.254.0.0/16: cloud metadata),
  the private ranges of RFC 1918, shared address space (100.64.0.0/10: carrier NAT,
  Tailscale, one cloud's metadata), IPv6 ULA and link-local, and the host's own LAN (the
  subnets of its other interfaces, read when the table is applied). What ``egress_allow``
  names is let through first. Everything else reaches the internet through Incus's NAT.

This is Tidepool's own table (``inet tidepool``): Incus clears and rebuilds only its own
(``inet incus``) when incusd or a network restarts. A packet any base chain drops stays
dropped, so Incus's accepting ``fwd`` chain cannot undo these refusals. The table is rebuilt
atomically, so applying it twice changes nothing.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from collections.abc import Iterable, Sequence

from tidepool.errors import HostSetupError
from tidepool.host.commands import run
from tidepool.host.steps import StepResult

TABLE = "tidepool"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED: tuple[Network, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
    ipaddress.ip_network("fe80::/10"),
)
"""Refused to workspaces unless ``egress_allow`` names them: never the internet."""

REJECT = "reject with icmpx admin-prohibited"


def _match(networks: Iterable[Network], version: int) -> str:
    """The ``version`` networks as nft writes them back (so a re-apply can compare): merged
    so no two overlap (nft refuses that), a single host as an address, one alone unbraced."""
    chosen = [network for network in networks if network.version == version]
    merged = ipaddress.collapse_addresses(chosen)  # type: ignore[type-var]
    elements = [
        str(net.network_address if net.prefixlen == net.max_prefixlen else net) for net in merged
    ]
    return elements[0] if len(elements) == 1 else "{ " + ", ".join(elements) + " }"


def _rules(bridge: str, networks: Iterable[Network], verdict: str) -> list[str]:
    networks = list(networks)
    rules = []
    for version, field in ((4, "ip daddr"), (6, "ip6 daddr")):
        if any(network.version == version for network in networks):
            rules.append(f'iifname "{bridge}" {field} {_match(networks, version)} {verdict}')
    return rules


def ruleset(bridge: str, allow: Iterable[Network] = (), lan: Iterable[Network] = ()) -> str:
    """The table for ``bridge``: ``allow`` opened, then ``BLOCKED`` and ``lan`` refused."""
    forward = [
        f'iifname "{bridge}" oifname "{bridge}" {REJECT}',
        f'iifname "{bridge}" ct state established,related accept',
        *_rules(bridge, allow, "accept"),
        *_rules(bridge, [*BLOCKED, *lan], REJECT),
    ]
    body = "".join(f"\t\t{rule}\n" for rule in forward)
    return f"""table inet {TABLE} {{
\tchain input {{
\t\ttype filter hook input priority filter; policy accept;
\t\tiifname "{bridge}" ct state established,related accept
\t\tiifname "{bridge}" udp dport {{ 53, 67 }} accept
\t\tiifname "{bridge}" tcp dport 53 accept
\t\tiifname "{bridge}" icmp type echo-request accept
\t\tiifname "{bridge}" drop
\t}}

\tchain forward {{
\t\ttype filter hook forward priority filter; policy accept;
{body}\t}}

\tchain output {{
\t\ttype filter hook output priority filter; policy accept;
\t\toifname "{bridge}" meta l4proto tcp ct state new meta skuid != 0 reject with tcp reset
\t}}
}}
"""


def lan_networks(addresses: Sequence[dict[str, object]], bridge: str) -> list[Network]:
    """The subnets of the host's own interfaces, but the bridge and loopback, from the
    output of ``ip -json address``: the host's LAN, which workspaces must not reach."""
    found: list[Network] = []
    for link in addresses:
        if link.get("ifname") in (bridge, "lo"):
            continue
        infos = link.get("addr_info")
        for info in infos if isinstance(infos, list) else []:
            if info.get("scope") != "global":
                continue
            interface = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            if interface.network.prefixlen < interface.max_prefixlen:
                found.append(interface.network)
    return found


def host_lan(bridge: str) -> list[Network]:
    """``lan_networks`` of this host, now."""
    return lan_networks(json.loads(run(["ip", "-json", "address", "show"])), bridge)


def _current() -> str | None:
    done = subprocess.run(
        ["nft", "list", "table", "inet", TABLE], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else None


def _normalise(text: str) -> str:
    """nft lists long sets wrapped over several lines: compare without any whitespace."""
    return re.sub(r"\s+", "", text)


def ensure_firewall(
    bridge: str, allow: Iterable[str] = (), lan: Iterable[Network] | None = None
) -> StepResult:
    """Install the table unless the same rules are in place. ``allow`` are CIDRs workspaces
    may reach although ``BLOCKED`` holds them; ``lan`` is the host's LAN (read if None)."""
    opened = [ipaddress.ip_network(cidr) for cidr in allow]
    refused = host_lan(bridge) if lan is None else list(lan)
    wanted = ruleset(bridge, opened, refused)
    summary = ", ".join(map(str, opened)) or "nothing"
    current = _current()
    if current is not None and _normalise(current) == _normalise(wanted):
        return StepResult(
            "firewall",
            False,
            f"{bridge}: DNS/DHCP to the host, the internet beyond; allowed besides: {summary}",
        )
    script = (f"table inet {TABLE}\ndelete table inet {TABLE}\n" if current else "") + wanted
    try:
        run(["nft", "-f", "-"], input_text=script)
    except HostSetupError as error:
        raise HostSetupError(f"Could not install the workspace firewall: {error}") from error
    return StepResult(
        "firewall",
        True,
        f"{bridge} may reach the host for DNS/DHCP only, and not the host's LAN, private or "
        f"link-local ranges; allowed besides: {summary}",
    )
