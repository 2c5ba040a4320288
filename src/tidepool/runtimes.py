"""The runtimes and what comes with them: each ``tidepool.runtimes`` entry point's factory, the
Incus client (the local socket, or the remote ``tidepool host join`` recorded), and placement
on an Incus cluster. Part of the composition root (``bootstrap``)."""

from __future__ import annotations

from importlib.metadata import entry_points

from tidepool.adapters.incus.client import IncusClient, unix_socket_client
from tidepool.adapters.incus.cluster import IncusCluster
from tidepool.adapters.incus.remote import INCUS_DIR, RemoteIncus
from tidepool.adapters.incus.runtime import IncusRuntime
from tidepool.adapters.incus.volumes import IncusHomeVolumes
from tidepool.errors import InvalidInputError
from tidepool.policies import placement_for
from tidepool.ports import Runtime
from tidepool.ports.volumes import HomeVolumes
from tidepool.services.placing import Placing
from tidepool.settings import Settings


def incus_client(settings: Settings) -> IncusClient:
    """The remote Incus ``tidepool host join`` recorded, else the local one's socket."""
    remote = RemoteIncus.load(settings.data_dir / INCUS_DIR)
    return remote.client() if remote else IncusClient(unix_socket_client(settings.incus_socket))


def installed_runtimes() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="tidepool.runtimes"))


def build_runtime(settings: Settings) -> Runtime:
    """The runtime named by ``settings.runtime``: its ``tidepool.runtimes`` entry point is
    loaded and called with the settings. A third party's package declares one the same way
    (``name = "package.module:factory"``, ``factory(settings) -> Runtime``)."""
    found = {ep.name: ep for ep in entry_points(group="tidepool.runtimes")}
    if settings.runtime not in found:
        raise InvalidInputError(
            f"Unknown runtime {settings.runtime!r}; installed: {', '.join(sorted(found))}."
        )
    runtime = found[settings.runtime].load()(settings)
    if not isinstance(runtime, Runtime):
        raise InvalidInputError(f"Runtime {settings.runtime!r} does not implement the port.")
    return runtime


def placing_for(settings: Settings) -> Placing | None:
    """Placement on an Incus cluster (asked once whether it is one); none on Tart."""
    if settings.runtime != "incus":
        return None
    return Placing(IncusCluster(incus_client(settings)), placement_for(settings))


def home_volumes_for(settings: Settings) -> HomeVolumes | None:
    """Home volumes on Incus's storage pool; none on Tart, or where they are switched off."""
    if settings.runtime != "incus" or not settings.home_volumes:
        return None
    return IncusHomeVolumes(incus_client(settings), settings.storage_pool)


def incus_runtime(settings: Settings) -> Runtime:
    """The ``incus`` entry point: Incus over its unix socket."""
    return IncusRuntime(
        incus_client(settings),
        profile=settings.incus_profile,
        pool=settings.storage_pool,
        instance_type=settings.instance_type,
    )


def tart_runtime(settings: Settings) -> Runtime:
    """The ``tart`` entry point: Tart's CLI, its state under the data directory."""
    from tidepool.adapters.tart.runtime import TartRuntime  # loaded only on the Tart path

    return TartRuntime(state_dir=settings.data_dir / "tart")
