"""Shared CLI plumbing: one console, step tables, and turning errors into exit codes."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from tidepool import bootstrap
from tidepool.bootstrap import Tidepool
from tidepool.errors import TidepoolError
from tidepool.host.service import by_hand_lock
from tidepool.host.steps import StepResult
from tidepool.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def friendly_errors(command: Callable[P, T]) -> Callable[P, T]:
    """Print a ``TidepoolError`` as one readable line and exit non-zero, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return command(*args, **kwargs)
        except TidepoolError as error:
            fail(str(error))
        except ValidationError as error:  # the settings (environment or config file)
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in error.errors()
            )
            fail(f"Invalid settings: {problems}")

    return wrapper


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def print_steps(title: str, steps: Iterable[StepResult]) -> bool:
    """Print a table of steps; return True if any changed something."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("step")
    table.add_column("")
    table.add_column("detail", overflow="fold")
    changed = False
    for step in steps:
        changed |= step.changed
        mark = "[yellow]changed[/]" if step.changed else "[green]ok[/]"
        table.add_row(step.name, mark, step.detail)
    console.print(table)
    return changed


def with_app(
    action: Callable[[Tidepool], Coroutine[Any, Any, T]], settings: Settings | None = None
) -> T:
    """Run ``action`` on the application ``bootstrap.build`` wires from the settings: the
    one way a command reaches the store, the runtime and the routes."""

    chosen = settings or get_settings()
    os.umask(0o077)  # the database and its journal files it may create are root's alone
    # While this command may do a workspace's steps itself, a serve starting waits for it.
    with by_hand_lock(chosen.data_dir) as platform_runs:

        async def go() -> T:
            async with bootstrap.build(chosen, platform_runs=platform_runs) as app:
                return await action(app)

        return run_async(go())
