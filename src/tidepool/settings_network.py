"""The workspaces' network: the Incus bridge and what the firewall lets out, a part of
``Settings`` (docs/security.md)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field, field_validator


class NetworkSettings(BaseModel):
    bridge_name: str = "tidepoolbr0"
    bridge_address: str = Field(
        default="10.213.77.1/24",
        description="The Incus bridge's own address and prefix; fixed, never auto-detected.",
    )
    egress_allow: list[str] = Field(
        default_factory=list,
        description="CIDRs workspaces may reach although the firewall refuses them by default "
        '(private, link-local and the host\'s LAN), e.g. ["10.20.0.0/16"]; applied by '
        "`tidepool host init`.",
    )

    @field_validator("bridge_address")
    @classmethod
    def _bridge_is_an_interface(cls, value: str) -> str:
        interface = ipaddress.IPv4Interface(value)
        if interface.ip == interface.network.network_address or interface.network.prefixlen > 29:
            raise ValueError(
                "bridge_address must be a host address with a prefix, e.g. 10.1.2.1/24"
            )
        return str(interface)

    @field_validator("egress_allow")
    @classmethod
    def _egress_allow_is_networks(cls, value: list[str]) -> list[str]:
        networks = []
        for cidr in value:
            try:
                networks.append(str(ipaddress.ip_network(cidr.strip())))
            except ValueError as error:
                raise ValueError(
                    f"egress_allow: {cidr!r} is not a network in CIDR form, e.g. 10.20.0.0/16 "
                    f"({error})"
                ) from None
        return networks


def is_address(host: str) -> bool:
    """True for an IP address (IPv6 with or without brackets), not a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """True for a loopback address (or ``localhost``); an empty host is every interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
