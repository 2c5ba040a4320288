"""The host's firewall for workspaces: from the bridge, the host answers DNS and DHCP only.

code-server runs with ``--auth none`` because only Caddy may reach it, and Caddy checks
who is asking. Two rules keep that true:

- workspace to workspace: the profile's NIC has ``security.port_isolation`` (the bridge
  forwards nothing between two isolated ports);
- workspace to host: this nftables table drops every packet that enters the host from the
  bridge, whatever address it was sent to (the bridge's, the LAN's), except DNS and DHCP
  (which the bridge's dnsmasq serves) and replies to connections the host opened (Caddy
  proxying to code-server). Traffic the host forwards to the outside (NAT) is untouched.

The table is rebuilt atomically, so applying it twice changes nothing.
"""

from __future__ import annotations

import subprocess

from tidepool.errors import HostSetupError
from tidepool.host.commands import run
from tidepool.host.steps import StepResult

TABLE = "tidepool"


def ruleset(bridge: str) -> str:
    return f"""table inet {TABLE} {{
\tchain input {{
\t\ttype filter hook input priority filter; policy accept;
\t\tiifname "{bridge}" ct state established,related accept
\t\tiifname "{bridge}" udp dport {{ 53, 67 }} accept
\t\tiifname "{bridge}" tcp dport 53 accept
\t\tiifname "{bridge}" icmp type echo-request accept
\t\tiifname "{bridge}" drop
\t}}
}}
"""


def _current() -> str | None:
    done = subprocess.run(
        ["nft", "list", "table", "inet", TABLE], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else None


def _normalise(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def ensure_firewall(bridge: str) -> StepResult:
    """Install the table unless the same rules are in place."""
    wanted = ruleset(bridge)
    current = _current()
    if current is not None and _normalise(current) == _normalise(wanted):
        return StepResult("firewall", False, f"only DNS/DHCP from {bridge} to the host")
    script = (f"table inet {TABLE}\ndelete table inet {TABLE}\n" if current else "") + wanted
    try:
        run(["nft", "-f", "-"], input_text=script)
    except HostSetupError as error:
        raise HostSetupError(f"Could not install the workspace firewall: {error}") from error
    return StepResult("firewall", True, f"{bridge} may reach the host for DNS/DHCP only")
