"""``tidepool idle-timeout``: see or choose how long your workspaces may sit idle.

``tidepool idle-timeout`` shows your choice, the default and what the admin allows;
``tidepool idle-timeout 2h`` chooses (for all your workspaces, over their templates'),
``--default`` goes back to the installation's. The duration is read here, so a typo is
answered before any request, in the words the keepalive command uses.
"""

from __future__ import annotations

import typer

from tidepool.cli.key import UrlOption, UserOption, call_api
from tidepool.cli.output import console, fail, friendly_errors, run_async
from tidepool.client import JSON
from tidepool.domain.activity import parse_duration


@friendly_errors
def idle_timeout_command(
    duration: str = typer.Argument("", help="How long, as 90m, 2h or 1h30m (none: show)."),
    default: bool = typer.Option(False, "--default", help="Go back to the default timeout."),
    url: str = UrlOption,
    user: str = UserOption,
) -> None:
    """Show or choose the idle timeout of all your workspaces."""
    if duration and default:
        fail("Give a duration or --default, not both.")
    if default:
        shown = run_async(call_api(url, user, "choose_idle_timeout", None))
    elif duration:
        minutes = parse_duration(duration).total_seconds() / 60
        if minutes <= 0:
            fail("An idle timeout must be longer than nothing; --default goes back.")
        shown = run_async(call_api(url, user, "choose_idle_timeout", minutes))
    else:
        shown = run_async(call_api(url, user, "idle_timeout"))
    console.print(describe(shown))


def describe(shown: JSON) -> str:
    """One line a person reads: what applies, and what they may choose."""
    chosen, default = shown["minutes"], shown["default_minutes"]
    if chosen is None:
        said = f"Your workspaces take the default: {_minutes(default)} (or their template's)."
    else:
        said = f"Your workspaces stop after {_minutes(chosen)} without activity."
    if not shown["may_choose"]:
        return f"{said} This installation does not let users choose."
    low, high = _minutes(shown["min_minutes"]), _minutes(shown["max_minutes"])
    return f"{said} You may choose from {low} to {high}."


def _minutes(minutes: float) -> str:
    """``90`` as ``1h30m``, ``30`` as ``30m``, ``0`` as ``never``."""
    if minutes <= 0:
        return "never"
    hours, rest = divmod(round(minutes), 60)
    return (f"{hours}h" if hours else "") + (f"{rest}m" if rest or not hours else "")
