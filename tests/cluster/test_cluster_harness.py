"""The cluster tier's own footing: two ``incusd`` on this machine form one Incus cluster, and
the host reaches a workspace's address on either member through that member's routed bridge
(the edge's network shape, docs/scale-out.md)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from support.incus_cluster import incus_cluster

pytestmark = [pytest.mark.incus, pytest.mark.cluster]


def test_two_members_form_one_cluster_and_are_removed_afterwards() -> None:
    directory = Path(tempfile.mkdtemp(prefix="tpc", dir="/tmp"))  # (see conftest's cluster)
    with incus_cluster(directory) as cluster:
        members = json.loads(cluster.first.incus("query", "/1.0/cluster/members?recursion=1"))
        assert sorted((m["server_name"], m["status"]) for m in members) == [
            ("node1", "Online"),
            ("node2", "Online"),
        ]
        assert {m["url"] for m in members} == {
            "https://100.64.77.11:8443",
            "https://100.64.77.12:8443",
        }
    assert not (directory / "node1").exists()
    directory.rmdir()
    assert not Path("/sys/class/net/tpclbr0").exists()
