"""``InMemoryRuntime``: the ``Runtime`` port in memory, for unit tests of the layers above.

It keeps the contract that the real runtimes keep (``tests/contract`` runs the same suite over
it, Incus and Tart), and it can misbehave on purpose, so that services can be tested against
the failures they must survive:

- ``delay``: every call sleeps first (a slow runtime);
- ``fail_on="start"`` (or several steps): that step raises ``RuntimeOperationError``, every time
  or only the first ``fail_times`` times (a flaky runtime that recovers);
- ``ipv4_delay`` / ``never_ipv4``: a started instance gets its address late, or never;
- ``crash(name)``: a running instance dies, as if its machine had stopped under us;
- ``daemon_down = True``: every call raises ``RuntimeUnavailableError``, as while incusd
  restarts, until it is set back to False.

Commands run by ``exec`` meet a tiny emulated guest: ``echo``, ``cat``, ``true``, ``false``,
``id -u``, ``printenv``, ``stat -c``, ``sleep``, ``env K=V cmd`` and ``sh -c 'exit N'``, over
the files pushed with ``push_file``; anything else exits 127. Tests that need more pass
``exec_handler``, which sees each call first and may answer it.
"""

from __future__ import annotations

import asyncio
import posixpath
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from tidepool.domain.environment import WORKSPACE_ENV_PATH, render_env_file
from tidepool.domain.names import validate_workspace_name
from tidepool.domain.ownership import InstanceOwner
from tidepool.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RuntimeOperationError,
    RuntimeUnavailableError,
    TimeoutExpiredError,
)
from tidepool.ports import ExecResult, InstanceSpec, InstanceState, InstanceStatus

#: Steps that ``fail_on`` can name: the methods of the ``Runtime`` port.
STEPS = frozenset(
    {
        "create",
        "start",
        "stop",
        "delete",
        "state",
        "list",
        "take",
        "wait_for_ipv4",
        "exec",
        "push_file",
    }
)


@dataclass
class FakeFile:
    """A file inside a fake instance."""

    content: bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass
class FakeInstance:
    """One fake instance; tests may read it to assert on the resulting state."""

    name: str
    image: str
    cpus: int
    memory_mib: int
    disk_gib: int | None = None
    status: InstanceStatus = InstanceStatus.STOPPED
    ipv4: str | None = None
    started_at: float = 0.0
    files: dict[str, FakeFile] = field(default_factory=dict)
    owner: InstanceOwner | None = None
    #: The create's target, as a fake cluster reads it back (``fakes.cluster``).
    target: str | None = None


#: ``exec_handler(instance, argv, user, env)``: an ``ExecResult`` to answer, None to pass.
ExecHandler = Callable[
    [FakeInstance, Sequence[str], int | None, Mapping[str, str]], ExecResult | None
]


class InMemoryRuntime:
    """A ``Runtime`` that keeps its instances in a dict."""

    def __init__(
        self,
        *,
        images: Iterable[str] = ("tidepool-workspace",),
        delay: float = 0.0,
        fail_on: str | Iterable[str] | None = None,
        fail_times: int | None = None,
        ipv4_delay: float = 0.0,
        never_ipv4: bool = False,
        exec_handler: ExecHandler | None = None,
        address_prefix: str = "127.0.10.",
    ) -> None:
        steps = {fail_on} if isinstance(fail_on, str) else set(fail_on or ())
        unknown = steps - STEPS
        if unknown:
            raise InvalidInputError(f"Unknown steps {sorted(unknown)}; use {sorted(STEPS)}.")
        self.images = set(images)
        self.instances: dict[str, FakeInstance] = {}
        #: Every call made, as ``(step, name)``, for tests that check an order of events.
        self.calls: list[tuple[str, str]] = []
        self._delay = delay
        self._fail_on = steps
        self._failures_left = fail_times
        self._ipv4_delay = ipv4_delay
        self._never_ipv4 = never_ipv4
        self._exec_handler = exec_handler
        self._address_prefix = address_prefix
        self._next_address = 1
        self.daemon_down = False
        #: How many times each image was replaced (``replace_image``): part of its id.
        self.image_versions: dict[str, int] = {}

    async def aclose(self) -> None:
        """Nothing to release."""

    # --- misbehaving on purpose -------------------------------------------------------------

    def crash(self, name: str) -> None:
        """The instance's machine stops under us: no clean stop, no address."""
        instance = self._get(name)
        instance.status = InstanceStatus.STOPPED
        instance.ipv4 = None

    async def _step(self, step: str, name: str = "") -> None:
        self.calls.append((step, name))
        if self.daemon_down:
            raise RuntimeUnavailableError("Cannot reach the runtime's daemon (down on purpose).")
        if self._delay:
            await asyncio.sleep(self._delay)
        if step in self._fail_on and (self._failures_left is None or self._failures_left > 0):
            if self._failures_left is not None:
                self._failures_left -= 1
            raise RuntimeOperationError(f"Injected failure at {step!r} for {name!r}.")

    # --- the port ---------------------------------------------------------------------------

    async def create(self, spec: InstanceSpec) -> InstanceState:
        name = validate_workspace_name(spec.name)
        await self._step("create", name)
        if name in self.instances:
            raise ConflictError(f"An instance named {name!r} already exists.")
        if spec.image not in self.images:
            raise NotFoundError(f"Image {spec.image!r} does not exist.")
        env_file = render_env_file(spec.environment)  # the same rules as the real runtimes
        instance = FakeInstance(
            name,
            spec.image,
            spec.cpus,
            spec.memory_mib,
            spec.disk_gib,
            owner=spec.owner,
            target=spec.target,
        )
        if env_file:
            instance.files[WORKSPACE_ENV_PATH] = FakeFile(env_file)
        self.instances[name] = instance
        return _state(instance)

    async def start(self, name: str) -> None:
        await self._step("start", name)
        instance = self._get(name)
        if instance.status is InstanceStatus.RUNNING:
            return
        instance.status = InstanceStatus.RUNNING
        instance.started_at = time.monotonic()
        instance.ipv4 = None

    async def stop(self, name: str) -> None:
        await self._step("stop", name)
        instance = self._get(name)
        instance.status = InstanceStatus.STOPPED
        instance.ipv4 = None

    async def delete(self, name: str) -> None:
        await self._step("delete", name)
        self._get(name)
        del self.instances[name]

    async def state(self, name: str) -> InstanceState:
        await self._step("state", name)
        instance = self._get(name)
        self._assign_address(instance)
        return _state(instance)

    async def list(self) -> Sequence[InstanceState]:
        await self._step("list")
        for instance in self.instances.values():
            self._assign_address(instance)
        return [
            replace(_state(instance), owner=instance.owner) for instance in self.instances.values()
        ]

    async def owner(self, name: str) -> InstanceOwner | None:
        await self._step("owner", name)
        return self._get(name).owner

    async def claim(self, name: str, owner: InstanceOwner) -> None:
        await self._step("claim", name)
        self._get(name).owner = owner

    async def take(self, name: str, expected: InstanceOwner, owner: InstanceOwner) -> bool:
        await self._step("take", name)
        instance = self._get(name)
        if instance.owner != expected:
            return False
        instance.owner = owner
        return True

    def replace_image(self, image: str) -> None:
        """A new image behind the same name (what a rebuild does): its id changes."""
        self.images.add(image)
        self.image_versions[image] = self.image_versions.get(image, 0) + 1

    async def image_id(self, image: str) -> str:
        await self._step("image_id", image)
        if image not in self.images:
            raise NotFoundError(f"Image {image!r} does not exist.")
        return f"{image}@{self.image_versions.get(image, 0)}"

    async def wait_for_ipv4(self, name: str, timeout: float) -> str:
        await self._step("wait_for_ipv4", name)
        deadline = time.monotonic() + timeout
        while True:
            instance = self._get(name)
            if instance.status is not InstanceStatus.RUNNING:
                raise RuntimeOperationError(f"Instance {name!r} is not running; it has no address.")
            self._assign_address(instance)
            if instance.ipv4:
                return instance.ipv4
            if time.monotonic() >= deadline:
                raise TimeoutExpiredError(f"Instance {name!r} got no IPv4 address in {timeout}s.")
            await asyncio.sleep(min(0.01, timeout))

    async def exec(
        self,
        name: str,
        argv: Sequence[str],
        *,
        user: int | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> ExecResult:
        if not argv:
            raise InvalidInputError("exec needs a command.")
        await self._step("exec", name)
        instance = self._running(name)
        if self._exec_handler is not None:
            answer = self._exec_handler(instance, argv, user, dict(env or {}))
            if answer is not None:
                return answer
        if argv[0] == "sleep" and len(argv) == 2:
            seconds = float(argv[1])
            if seconds > timeout:
                await asyncio.sleep(timeout)
                raise TimeoutExpiredError(f"`sleep {argv[1]}` did not finish in {timeout:g}s.")
            await asyncio.sleep(seconds)
            return ExecResult(0, "", "")
        return _guest(instance, list(argv), 0 if user is None else user, dict(env or {}))

    async def push_file(
        self, name: str, path: str, content: bytes, *, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> None:
        if not posixpath.isabs(path) or posixpath.normpath(path) != path:
            raise InvalidInputError(f"{path!r} must be an absolute, normalised path.")
        await self._step("push_file", name)
        instance = self._get(name)
        instance.files[path] = FakeFile(bytes(content), mode, uid, gid)

    # --- helpers ----------------------------------------------------------------------------

    def _get(self, name: str) -> FakeInstance:
        validate_workspace_name(name)
        instance = self.instances.get(name)
        if instance is None:
            raise NotFoundError(f"No instance named {name!r}.")
        return instance

    def _running(self, name: str) -> FakeInstance:
        instance = self._get(name)
        if instance.status is not InstanceStatus.RUNNING:
            raise RuntimeOperationError(f"Instance {name!r} is not running.")
        return instance

    def _assign_address(self, instance: FakeInstance) -> None:
        if (
            instance.status is InstanceStatus.RUNNING
            and instance.ipv4 is None
            and not self._never_ipv4
            and time.monotonic() - instance.started_at >= self._ipv4_delay
        ):
            instance.ipv4 = f"{self._address_prefix}{self._next_address}"
            self._next_address += 1


def _state(instance: FakeInstance) -> InstanceState:
    return InstanceState(name=instance.name, status=instance.status, ipv4=instance.ipv4)


def _guest(instance: FakeInstance, argv: list[str], uid: int, env: dict[str, str]) -> ExecResult:
    """The emulated guest: a few commands with the exit codes and outputs of coreutils."""
    program, args = argv[0], argv[1:]
    if program == "env":
        while args and "=" in args[0]:
            key, _, value = args.pop(0).partition("=")
            env[key] = value
        return _guest(instance, args, uid, env) if args else ExecResult(0, "", "")
    if program == "true":
        return ExecResult(0, "", "")
    if program == "false":
        return ExecResult(1, "", "")
    if program == "echo":
        return ExecResult(0, " ".join(args) + "\n", "")
    if program == "id" and args == ["-u"]:
        return ExecResult(0, f"{uid}\n", "")
    if program == "printenv":
        values = [env[key] for key in args if key in env]
        return ExecResult(
            0 if len(values) == len(args) else 1, "".join(f"{v}\n" for v in values), ""
        )
    if program == "sh" and len(args) == 2 and args[0] == "-c" and args[1].startswith("exit "):
        return ExecResult(int(args[1].split()[1]), "", "")
    if program == "cat":
        missing = [path for path in args if path not in instance.files]
        if missing:
            return ExecResult(1, "", f"cat: {missing[0]}: No such file or directory\n")
        return ExecResult(0, b"".join(instance.files[p].content for p in args).decode(), "")
    if program == "stat" and len(args) == 3 and args[0] == "-c":
        entry = instance.files.get(args[2])
        if entry is None:
            return ExecResult(1, "", f"stat: cannot statx '{args[2]}': No such file or directory\n")
        text = (
            args[1]
            .replace("%a", f"{entry.mode:o}")
            .replace("%u", str(entry.uid))
            .replace("%g", str(entry.gid))
        )
        return ExecResult(0, text + "\n", "")
    return ExecResult(127, "", f"{program}: not found\n")
