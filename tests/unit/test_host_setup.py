import errno
import ipaddress
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from tidepool.host import apt, daemons, firewall, sysctl
from tidepool.settings import Settings


def test_mirror_is_read_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
        "\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
    )
    assert apt.debian_mirror(tmp_path, tmp_path / "none.list") == "http://mirror.example/debian"


def test_mirror_is_read_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://local.example/debian/ bookworm main\n"
    )
    assert apt.debian_mirror(tmp_path, tmp_path / "sources.list") == "http://local.example/debian"


def test_limits_are_raised_once_and_never_lowered(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for key in sysctl.LIMITS:
        path = proc / key.replace(".", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("128\n")
    high = proc / "vm/max_map_count"
    high.write_text("999999999\n")
    persist = tmp_path / "60-tidepool.conf"

    first = sysctl.ensure_limits(proc, persist)
    second = sysctl.ensure_limits(proc, persist)

    assert first.changed and not second.changed
    assert (proc / "fs/inotify/max_user_instances").read_text().strip() == "8192"
    assert high.read_text().strip() == "999999999"
    assert "fs.inotify.max_user_instances = 8192" in persist.read_text()


def test_a_mount_whose_daemon_died_is_stale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dead = tmp_path / "lxcfs"

    def not_connected(self: Path, **_: object) -> os.stat_result:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected", str(self))

    assert not daemons.mount_is_stale(tmp_path)
    assert not daemons.mount_is_stale(tmp_path / "missing")
    monkeypatch.setattr(Path, "stat", not_connected)
    assert daemons.mount_is_stale(dead)


def lines_of(ruleset: str, chain: str) -> list[str]:
    """The rules of ``chain`` in a ruleset, one stripped line each."""
    body = ruleset.split(f"chain {chain} {{", 1)[1].split("}\n", 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip()]


def net(cidr: str) -> firewall.Network:
    return ipaddress.ip_network(cidr)


def test_workspaces_are_refused_private_link_local_and_the_lan() -> None:
    forward = lines_of(firewall.ruleset("br0", lan=[net("198.51.100.0/24")]), "forward")

    assert forward[0] == "type filter hook forward priority filter; policy accept;"
    reject = "reject with icmpx admin-prohibited"
    assert forward[1] == f'iifname "br0" oifname "br0" {reject}'
    assert forward[2] == 'iifname "br0" ct state established,related accept'
    assert forward[3:] == [
        'iifname "br0" ip daddr { 10.0.0.0/8, 100.64.0.0/10, 169.254.0.0/16, '
        f"172.16.0.0/12, 192.168.0.0/16, 198.51.100.0/24 }} {reject}",
        f'iifname "br0" ip6 daddr {{ fc00::/7, fe80::/10 }} {reject}',
    ]


def test_the_host_itself_still_answers_dns_and_dhcp_only() -> None:
    assert lines_of(firewall.ruleset("br0"), "input")[1:] == [
        'iifname "br0" ct state established,related accept',
        'iifname "br0" udp dport { 53, 67 } accept',
        'iifname "br0" tcp dport 53 accept',
        'iifname "br0" icmp type echo-request accept',
        'iifname "br0" drop',
    ]


def test_the_allow_list_is_opened_before_the_refusals() -> None:
    forward = lines_of(
        firewall.ruleset(
            "br0",
            allow=[net("10.20.0.0/16"), net("172.31.255.10/32"), net("fd12::/64")],
        ),
        "forward",
    )
    accepts = [rule for rule in forward if rule.endswith(" accept")]
    first_reject = next(i for i, rule in enumerate(forward) if "daddr" in rule and "reject" in rule)
    assert accepts[1:] == [
        'iifname "br0" ip daddr { 10.20.0.0/16, 172.31.255.10 } accept',
        'iifname "br0" ip6 daddr fd12::/64 accept',
    ]
    assert all(forward.index(rule) < first_reject for rule in accepts)


def test_overlapping_networks_are_merged_as_nft_needs() -> None:
    forward = lines_of(
        firewall.ruleset("br0", lan=[net("192.168.1.0/24"), net("fd00::/64")]), "forward"
    )
    assert "192.168.1.0/24" not in " ".join(forward)
    assert "fd00::/64" not in " ".join(forward)


def test_the_lan_is_every_global_subnet_but_the_bridge_and_loopback() -> None:
    addresses: list[dict[str, object]] = [
        {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
        {
            "ifname": "eth0",
            "addr_info": [
                {"local": "192.0.2.2", "prefixlen": 24, "scope": "global"},
                {"local": "2001:db8::2", "prefixlen": 64, "scope": "global"},
                {"local": "fe80::1", "prefixlen": 64, "scope": "link"},
            ],
        },
        {"ifname": "br0", "addr_info": [{"local": "10.9.0.1", "prefixlen": 24, "scope": "global"}]},
        {
            "ifname": "wg0",
            "addr_info": [{"local": "198.51.100.7", "prefixlen": 32, "scope": "global"}],
        },
        {"ifname": "veth1", "addr_info": []},
    ]
    assert firewall.lan_networks(addresses, "br0") == [net("192.0.2.0/24"), net("2001:db8::/64")]


def test_egress_allow_takes_networks_and_refuses_anything_else() -> None:
    assert Settings(egress_allow=["10.20.0.0/16", "172.31.255.10"]).egress_allow == [
        "10.20.0.0/16",
        "172.31.255.10/32",
    ]
    for bad in ("10.20.0.1/16", "intranet", "10.0.0.0/33"):
        with pytest.raises(ValidationError, match="egress_allow"):
            Settings(egress_allow=[bad])


def test_only_root_on_the_host_may_open_a_connection_into_the_bridge() -> None:
    assert lines_of(firewall.ruleset("br0"), "output")[1:] == [
        'oifname "br0" meta l4proto tcp ct state new meta skuid != 0 reject with tcp reset',
    ]
