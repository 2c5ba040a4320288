"""What a workspace reaches beyond the host: the internet, and not metadata or private ranges.

Proven without a packet leaving this machine. Each destination is a stand-in the test builds
here: a network namespace joined to the host by a veth pair, holding the address and a tiny
TCP listener that answers with the address it sees the client as. The host routes each
stand-in's /32 into its veth, so a workspace's packets take the host's real forwarding path
(Tidepool's ``forward`` chain, then Incus's NAT) and end in the namespace.

- public: 203.0.113.10 (TEST-NET-3). The namespace has a route to the host's end of the
  veth and nothing else, as an internet host knows only the host's public address: its answer
  comes back only through NAT, and it sees the host's address, never the workspace's;
- metadata: 169.254.169.254, the cloud metadata address;
- private: 172.31.255.10, an RFC 1918 address that no network of this machine uses (checked
  before anything is built).

Before a workspace exists, the test proves from the host that the route to each stand-in is
its veth and that each answers there; only then is a workspace launched. Everything built is
removed in a ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from support.instances import launch
from support.stand_ins import StandIn, answer, build, collisions, ip
from tidepool import bootstrap
from tidepool.errors import NotFoundError
from tidepool.host import firewall, init
from tidepool.ports import Runtime
from tidepool.settings import get_settings

pytestmark = pytest.mark.incus


@pytest.fixture(autouse=True)
def _root_with_iproute2() -> None:
    """The stand-ins are network namespaces: root and iproute2 are required, as for
    ``tidepool host init`` itself (never skipped: a missing tool is a failure to fix)."""
    assert os.geteuid() == 0, "builds network namespaces: run as root"
    assert shutil.which("ip"), "builds network namespaces: iproute2 is missing"


PORT = 7411

LISTENER = """
import socket, sys
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
while True:
    connection, peer = server.accept()
    with connection:
        connection.sendall(f"{peer[0]}\\n".encode())
"""


def prove_local(stand_in: StandIn) -> None:
    """The host's route to the stand-in is its veth, and the stand-in answers there."""
    (route,) = json.loads(ip("-json", "route", "get", stand_in.address))
    assert route["dev"] == stand_in.host_end, f"{stand_in.address} would leave by {route}"
    deadline = time.monotonic() + 10
    while True:
        try:
            seen = answer(stand_in.address, stand_in.host_end, PORT)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert seen == stand_in.host_address, f"{stand_in.kind} answered as if from {seen}"


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[dict[str, StandIn]]:
    tag = uuid.uuid4().hex[:5]
    wanted = [
        StandIn("public", "203.0.113.10", "203.0.113.1", "203.0.113.0/24", "", ""),
        StandIn("metadata", "169.254.169.254", "169.254.169.1", "169.254.169.0/24", "", ""),
        StandIn("private", "172.31.255.10", "172.31.255.1", "172.31.255.0/24", "", ""),
    ]
    for stand_in in wanted:
        wider = 16 if stand_in.kind == "metadata" else 0
        assert not collisions(stand_in.block, wider), (
            f"{stand_in.block} is in use here: {collisions(stand_in.block, wider)}; "
            "this test only uses addresses no network of this machine uses"
        )
    built = {
        s.kind: StandIn(
            s.kind,
            s.address,
            s.host_address,
            s.block,
            f"tp-egress-{tag}-{s.kind}",
            f"te{tag}{s.kind[:3]}",
        )
        for s in wanted
    }
    listeners: list[subprocess.Popen[bytes]] = []
    try:
        for stand_in in built.values():
            listeners.append(
                build(stand_in, [sys.executable, "-c", LISTENER, stand_in.address, str(PORT)])
            )
        for stand_in in built.values():
            prove_local(stand_in)
        yield built
    finally:
        for listener in listeners:
            listener.kill()
            listener.wait()
        for stand_in in built.values():
            subprocess.run(["ip", "link", "del", stand_in.host_end], capture_output=True)
            subprocess.run(["ip", "netns", "del", stand_in.namespace], capture_output=True)
        for stand_in in built.values():
            assert not collisions(stand_in.block, 16), "a stand-in outlived the test"


@pytest.fixture(scope="module")
async def workspace(stand_ins: dict[str, StandIn]) -> AsyncIterator[tuple[Runtime, str]]:
    """A real workspace, launched only once every stand-in is proven local."""
    settings = get_settings()
    init.firewall_step(settings)
    name = f"tp-egress-{uuid.uuid4().hex[:6]}"
    async with bootstrap.opened_runtime(settings) as runtime:
        try:
            await launch(runtime, name, settings)
            yield runtime, name
        finally:
            with contextlib.suppress(NotFoundError):
                await runtime.delete(name)


async def connect(runtime: Runtime, name: str, stand_in: StandIn) -> tuple[str | None, str]:
    """From the workspace, open a TCP connection to the stand-in (3 s at most): the line it
    answered (None if it did not), and bash's error."""
    result = await runtime.exec(
        name,
        [
            "timeout",
            "3",
            "bash",
            "-c",
            f"exec 3<>/dev/tcp/{stand_in.address}/{PORT} && head -n 1 <&3",
        ],
        timeout=20,
    )
    return (result.stdout.strip() if result.ok else None), result.stderr


async def test_a_workspace_reaches_the_internet_through_nat(
    workspace: tuple[Runtime, str], stand_ins: dict[str, StandIn]
) -> None:
    runtime, name = workspace
    public = stand_ins["public"]
    seen, error = await connect(runtime, name, public)
    assert seen is not None, f"the public stand-in did not answer: {error}"
    assert seen == public.host_address, "the outside saw the workspace, not the host (no NAT)"


@pytest.mark.parametrize("kind", ["metadata", "private"])
async def test_a_workspace_cannot_reach_metadata_or_private_ranges(
    workspace: tuple[Runtime, str], stand_ins: dict[str, StandIn], kind: str
) -> None:
    runtime, name = workspace
    started = time.monotonic()
    seen, error = await connect(runtime, name, stand_ins[kind])
    assert seen is None, f"the {kind} stand-in answered a workspace"
    assert "No route to host" in error, f"not refused by the firewall: {error!r}"
    assert time.monotonic() - started < 3, "the refusal should be immediate, not a timeout"


async def test_egress_allow_opens_a_named_network(
    workspace: tuple[Runtime, str], stand_ins: dict[str, StandIn]
) -> None:
    runtime, name = workspace
    settings = get_settings()
    private, metadata = stand_ins["private"], stand_ins["metadata"]
    allowed = [*settings.egress_allow, f"{private.address}/32"]
    try:
        assert firewall.ensure_firewall(settings.bridge_name, allow=allowed).changed
        seen, error = await connect(runtime, name, private)
        assert seen == private.host_address, f"the allowed stand-in did not answer: {error}"
        assert (await connect(runtime, name, metadata))[0] is None, "allowed more than named"
    finally:
        init.firewall_step(settings)
    assert (await connect(runtime, name, private))[0] is None, "the default is not back"
