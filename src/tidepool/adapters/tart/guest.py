"""Running commands inside a Tart VM: ``tart exec`` first, SSH for images without the agent.

``tart exec`` talks to the Tart Guest Agent through the VM's control socket (``Exec.swift``);
it has no options for a user or an environment, so both are applied inside the guest by
wrapping the command: ``sudo -n -u #UID -- env K=V... argv`` (``sudo`` is in every Tidepool
image and in Cirrus Labs' images). The agent runs commands as root.

Images without the agent (Tidepool's Alpine image, vanilla images) answer over SSH instead,
with the key that Tidepool's image build put in the Alpine image (``keys.py``) unless the
settings name another.
SSH hands the remote side one string that its shell splits, so each argument is quoted with
``shlex.quote``: the argv stays an argv, nothing is interpreted. Over SSH a command meant for
root goes through ``sudo -n`` unless the SSH user is root.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from tidepool.adapters.tart.cli import (
    CommandResult,
    TartCLI,
    error_for,
    is_agent_unavailable,
    is_tart_exec_failure,
)
from tidepool.errors import InvalidInputError, RuntimeOperationError
from tidepool.ports import ExecResult

_ENV_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def wrap_command(
    argv: Sequence[str], *, user: int | None, env: Mapping[str, str] | None
) -> list[str]:
    """The argv to run in the guest so that ``argv`` runs as ``user`` with ``env`` added."""
    if not argv:
        raise InvalidInputError("exec needs a command.")
    command = list(argv)
    if env:
        for key in env:
            if not key or key[0].isdigit() or not set(key) <= _ENV_KEY_CHARS:
                raise InvalidInputError(f"{key!r} is not a valid environment variable name.")
        command = ["env", *(f"{key}={value}" for key, value in env.items()), *command]
    if user is not None:
        if user < 0:
            raise InvalidInputError(f"{user} is not a user id.")
        command = ["sudo", "-n", "-u", f"#{user}", "--", *command]
    return command


@dataclass(frozen=True, slots=True)
class SSHSettings:
    """How to reach a guest over SSH when it has no Tart Guest Agent."""

    executable: str = "ssh"
    user: str = "root"
    identity: Path | None = None
    connect_timeout: int = 10


class GuestRunner:
    """Runs argv lists inside a running VM and returns ``ExecResult``s."""

    def __init__(
        self,
        tart: TartCLI,
        *,
        ssh: SSHSettings | None,
        ssh_cli: TartCLI | None,
        address_of: Callable[[str], Awaitable[str]],
        known_hosts_of: Callable[[str], Path],
        default_identity: Path | None = None,
    ) -> None:
        self._tart = tart
        self._ssh = ssh
        self._ssh_cli = ssh_cli
        self._address_of = address_of
        self._known_hosts_of = known_hosts_of
        self._default_identity = default_identity

    async def run(
        self, vm: str, command: Sequence[str], *, timeout: float, stdin: bytes | None = None
    ) -> ExecResult:
        """Run ``command`` (already wrapped) in ``vm``; a non-zero exit is a result.

        Raises ``NotFoundError`` for an unknown VM, ``RuntimeOperationError`` when the VM is
        not running or neither the agent nor SSH answers, ``TimeoutExpiredError`` on timeout.
        """
        args = ["exec", *(["-i"] if stdin is not None else []), vm, *command]
        result = await self._tart.run(args, timeout=timeout, stdin=stdin)
        if not is_tart_exec_failure(result):
            return _exec_result(result)
        if not is_agent_unavailable(result):
            raise error_for(result, f"Running {command[0]!r} in {vm!r}")
        if self._ssh is None or self._ssh_cli is None:
            raise RuntimeOperationError(
                f"Cannot run {command[0]!r} in {vm!r}: Tart says: {result.message} "
                "(SSH fallback is not configured)."
            )
        return await self._run_over_ssh(vm, command, timeout=timeout, stdin=stdin, agent=result)

    async def _run_over_ssh(
        self,
        vm: str,
        command: Sequence[str],
        *,
        timeout: float,
        stdin: bytes | None,
        agent: CommandResult,
    ) -> ExecResult:
        assert self._ssh is not None and self._ssh_cli is not None
        address = await self._address_of(vm)
        remote = list(command)
        if self._ssh.user != "root" and remote[:1] != ["sudo"]:
            remote = ["sudo", "-n", "--", *remote]
        options = [
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            f"UserKnownHostsFile={self._known_hosts_of(vm)}",
            "-o",
            f"ConnectTimeout={self._ssh.connect_timeout}",
            "-o",
            "LogLevel=ERROR",
        ]
        if self._ssh.identity is not None:
            options += ["-o", "IdentitiesOnly=yes", "-i", str(self._ssh.identity)]
        elif self._default_identity is not None and self._default_identity.exists():
            # The key Tidepool's image build gave the image (``keys.py``), offered first; ssh
            # still tries the user's own keys after it, for images built by hand.
            options += ["-i", str(self._default_identity)]
        args = [*options, "-l", self._ssh.user, address, "--", " ".join(quote(a) for a in remote)]
        result = await self._ssh_cli.run(args, timeout=timeout, stdin=stdin or b"")
        if result.exit_code == 255:  # ssh's own failure: no connection, refused key...
            raise RuntimeOperationError(
                f"Cannot run {command[0]!r} in {vm!r}: the guest agent did not answer (Tart "
                f"says: {agent.message}) and neither did SSH to {self._ssh.user}@{address} "
                f"(ssh says: {result.message}).{self._key_hint()}"
            )
        return _exec_result(result)

    def _key_hint(self) -> str:
        """What to do when SSH refused us, if the key the image should trust is ours."""
        if self._ssh is None or self._ssh.identity is not None or self._default_identity is None:
            return ""
        if not self._default_identity.exists():
            return (
                f" Tidepool's key {self._default_identity} does not exist: build the image with "
                "`tidepool image build --runtime tart`, which makes the key and puts it in."
            )
        return (
            f" If the image was built before {self._default_identity} was made, rebuild it: "
            "`tidepool image build --runtime tart --force`."
        )


def _exec_result(result: CommandResult) -> ExecResult:
    return ExecResult(exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr)
