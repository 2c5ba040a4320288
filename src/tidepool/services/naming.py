"""A workspace's name in its IDE: the browser tab says which workspace it is.

The name reaches VS Code as its window title, in code-server's machine settings, written once
code-server runs, at the workspace's first boot. The same step names a workspace made cold
and one taken from the warm pool, whose code-server started before anyone knew its name: a
setting is read by the workbench when a page loads, so neither needs code-server started
again (which cost a pooled create 0.8 s). code-server's own product name is the same
everywhere ("Tidepool", the image's default), so the two are alike down to that.

The file is the user's afterwards: it is written only until the workspace first runs (a
create a crash cut short writes it when it goes on), never over a change of theirs, and
never into a workspace that ran before this step existed.
"""

from __future__ import annotations

import json

from tidepool.domain.names import InstanceName
from tidepool.domain.workspace import Status, Workspace
from tidepool.ports import Runtime, WorkspaceStore
from tidepool.services.setup_steps import HOME, WORKSPACE_UID

#: code-server's machine settings (VS Code's remote settings), created at its first start.
MACHINE_SETTINGS = f"{HOME}/.local/share/code-server/Machine/settings.json"
#: The phase a named workspace's log records (so a retried create does not write again).
NAMED = "named"


def machine_settings(workspace_name: str) -> bytes:
    """The settings that put ``workspace_name`` in the window title, before the app's."""
    title = (
        f"${{dirty}}${{activeEditorShort}}${{separator}}{workspace_name}${{separator}}${{appName}}"
    )
    return (json.dumps({"window.title": title}, indent=2) + "\n").encode()


async def name_workspace(
    runtime: Runtime, store: WorkspaceStore, workspace: Workspace, instance: InstanceName
) -> None:
    """Write the workspace's name into its IDE's settings, unless its log says it was, or
    that the workspace ran before (its settings are its user's since)."""
    events = await store.events(workspace.id, after=0)
    if any(e.kind == "phase" and e.value == NAMED for e in events):
        return
    if any(e.kind == "status" and e.value == Status.RUNNING.value for e in events):
        return
    await runtime.push_file(
        instance,
        MACHINE_SETTINGS,
        machine_settings(workspace.name),
        mode=0o600,
        uid=WORKSPACE_UID,
        gid=WORKSPACE_UID,
    )
    await store.add_event(workspace.id, "phase", NAMED, "")
