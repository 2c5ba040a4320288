"""Running the ``tart`` command: async subprocesses with timeouts, failures as typed errors.

Every call is an argv list (never a shell) with a deadline; a call that overruns it is killed
and reported as ``TimeoutExpiredError``. Tart writes its errors to stderr with exit code 2 for
"no such VM", "not running" and "already running", and 1 for everything else
(``Sources/tart/VMStorageHelper.swift``); ``error_for`` turns those messages into Tidepool's
errors while quoting Tart, so a person reading the error sees what Tart said.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tidepool.adapters.tart import detach
from tidepool.errors import (
    ConflictError,
    NotFoundError,
    RuntimeOperationError,
    RuntimeUnavailableError,
    TidepoolError,
    TimeoutExpiredError,
)

#: Virtualization.framework's refusal, as Tart's Run.swift words it.
VM_LIMIT_MESSAGE = "The number of VMs exceeds the system limit"

_DOES_NOT_EXIST = re.compile(r'the specified VM "[^"]*" does not exist')
_ALREADY_RUNNING = re.compile(r'VM "[^"]*" is already running')
_IS_RUNNING = re.compile(r'VM "[^"]*" is running')
_NOT_RUNNING = re.compile(r'VM "[^"]*" is not running')


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one ``tart`` (or ``ssh``) invocation did."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        """Tart's own words: stderr, or stdout for the few messages Tart prints there."""
        return self.stderr.strip() or self.stdout.strip() or f"exit code {self.exit_code}"


def error_for(result: CommandResult, what: str) -> TidepoolError:
    """The Tidepool error for a failed Tart command, quoting Tart's message."""
    message = result.message
    text = f"{what}: Tart says: {message}"
    if _DOES_NOT_EXIST.search(message):
        return NotFoundError(text)
    if VM_LIMIT_MESSAGE in message:
        return ConflictError(
            f"{what}: the Mac is already running as many VMs as macOS allows (Tart says: "
            f"{message}). Stop a workspace first."
        )
    if _ALREADY_RUNNING.search(message) or _IS_RUNNING.search(message):
        return ConflictError(text)
    return RuntimeOperationError(text)


def is_tart_exec_failure(result: CommandResult) -> bool:
    """Whether a failed ``tart exec`` failed in Tart itself rather than in the guest command.

    ``tart exec`` exits with the guest command's own code, so the code alone cannot tell; a
    failure of Tart is one line of Tart's on stderr and nothing on stdout.
    """
    if result.exit_code == 0 or result.stdout:
        return False
    message = result.stderr.strip()
    return "\n" not in message and bool(
        _DOES_NOT_EXIST.fullmatch(message)
        or _NOT_RUNNING.fullmatch(message)
        or is_agent_unavailable(result)
    )


def is_agent_unavailable(result: CommandResult) -> bool:
    """Whether ``tart exec`` could not reach a guest agent (none installed, or still booting)."""
    message = result.stderr
    return result.exit_code != 0 and (
        "is the Tart Guest Agent running?" in message
        or '"tart exec" is only available on macOS 14' in message
        or "Unexpected argument 'exec'" in message  # a Tart older than 2.x has no exec
    )


class TartCLI:
    """Runs one executable (``tart``, or ``ssh`` for the fallback) with a timeout per call."""

    def __init__(
        self,
        executable: str = "tart",
        *,
        tart_home: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.executable = executable
        self._env = dict(os.environ)
        if tart_home is not None:
            self._env["TART_HOME"] = str(tart_home)
        self._env.update(extra_env or {})

    async def run(
        self, args: Sequence[str], *, timeout: float, stdin: bytes | None = None
    ) -> CommandResult:
        """Run ``executable args...`` and return its result, whatever its exit code.

        Raises ``RuntimeUnavailableError`` if the executable cannot be started and
        ``TimeoutExpiredError`` (after killing it) if it runs longer than ``timeout`` seconds.
        """
        argv = (self.executable, *args)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                start_new_session=True,
            )
        except (FileNotFoundError, PermissionError) as error:
            raise RuntimeUnavailableError(
                f"Cannot run {self.executable!r} ({error.strerror}). Is Tart installed? "
                "On a Mac: `brew install cirruslabs/cli/tart`."
            ) from error
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout)
        except TimeoutError:
            await _kill(process)
            raise TimeoutExpiredError(
                f"`{_show(argv)}` did not finish in {timeout:g}s and was stopped."
            ) from None
        except asyncio.CancelledError:
            await _kill(process)
            raise
        return CommandResult(
            argv=argv,
            exit_code=process.returncode if process.returncode is not None else -1,
            stdout=stdout.decode(errors="replace"),
            stderr=stderr.decode(errors="replace"),
        )

    async def check(
        self, args: Sequence[str], *, timeout: float, stdin: bytes | None = None
    ) -> str:
        """Run the command and return its stdout; a non-zero exit raises ``error_for``."""
        result = await self.run(args, timeout=timeout, stdin=stdin)
        if result.exit_code != 0:
            raise error_for(result, f"`{_show(result.argv)}`")
        return result.stdout

    async def spawn_detached(self, args: Sequence[str], *, log_path: Path, timeout: float) -> int:
        """Start ``executable args...`` in the background, detached from Tidepool; return its pid.

        ``tart run`` lives as long as its VM. Started through the ``detach`` helper
        it belongs to no Tidepool process, so neither a restart of Tidepool nor the end of the
        CLI command that started it stops the VM, and launchd reaps it when it ends. Its output
        goes to ``log_path``.
        """
        # The helper runs by path, isolated (-I) and without site (-S): stdlib only, fast.
        helper = str(Path(detach.__file__))
        result = await TartCLI(sys.executable, extra_env=self._env).run(
            ["-I", "-S", helper, str(log_path), "--", self.executable, *args], timeout=timeout
        )
        if result.exit_code != 0 or not result.stdout.strip().isdigit():
            raise RuntimeUnavailableError(
                f"Could not start `{_show((self.executable, *args))}` in the background: "
                f"{result.message}"
            )
        return int(result.stdout.strip())


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the process group (``tart`` may have children of its own) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()


def _show(argv: Sequence[str]) -> str:
    return " ".join(argv)
