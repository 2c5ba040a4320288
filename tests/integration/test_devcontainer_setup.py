"""A repository's ``devcontainer.json`` honoured on a real Incus workspace, with git served
from a namespace of the test's own (``support.git_server``): the repository cloned and owned
by ``dev``; ``containerEnv`` and ``remoteEnv`` (variables resolved) in a new terminal and in
login shells; the object-form ``postCreateCommand``'s output in the log, run once; the
forwarded port listed with its URL; a ``.vsix`` the test built in code-server's list; the
IDE settings in code-server's machine settings; ``postStartCommand`` at every start; and a
warning naming each key Tidepool does not honour."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from support.git_server import git_server
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_log, wait_for_status
from support.vsix import vsix
from tidepool.bootstrap import build_runtime
from tidepool.domain.names import instance_name_for
from tidepool.ports import Runtime
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpd"
DEVCONTAINER = """{
  // The test's dev container: what Tidepool honours, and keys it does not.
  "name": "app",
  "containerEnv": {"APP_MODE": "dev",},
  "remoteEnv": {
    "TOOLS_PATH": "${containerEnv:PATH}:/opt/tools",
    "WHO": "${localEnv:TIDEPOOL_WORKSPACE:nobody}",
    "FOLDER": "${containerWorkspaceFolder}",
  },
  "postCreateCommand": {
    "greet": "echo POSTCREATE-OUTPUT; id -un > $HOME/post-create-user",
    "count": ["sh", "-c", "echo once >> $HOME/creations"],
  },
  "postStartCommand": "echo started >> $HOME/starts",
  "forwardPorts": [8081],
  "customizations": {
    "vscode": {"extensions": ["tools/hello.vsix"], "settings": {"editor.tabSize": 3}},
  },
  "features": {"ghcr.io/devcontainers/features/node:1": {}},
  "postAttachCommand": "echo attached",
}
"""
CODE_SERVER = "PATH=/opt/tidepool/node/bin:$PATH /opt/tidepool/code-server/bin/code-server"


async def sh(runtime: Runtime, instance: str, script: str, user: int | None = 1000) -> str:
    home = {"HOME": "/home/dev"} if user else {}
    done = await runtime.exec(instance, ["sh", "-c", script], user=user, env=home)
    assert done.exit_code == 0, (script, done)
    return done.stdout.strip()


async def test_a_dev_container_is_honoured_and_every_ignored_key_named(tmp_path: Path) -> None:
    with git_server() as git:
        repository = git.add(
            "app.git",
            {
                "README": "the app\n",
                ".devcontainer/devcontainer.json": DEVCONTAINER,
                "tools/hello.vsix": vsix(),
            },
        )
        data = tmp_path / "data"
        serve = ServeProcess(data, free_port(), f"sqlite:///{tmp_path / 'tp.db'}", PREFIX)
        serve.start()
        runtime = build_runtime(Settings())
        try:
            async with serve.api() as api:
                made = await api.create("dc", repository=repository)
                assert (await wait_for_status(api, "dc", {"running", "failed"}))["status"] == (
                    "running"
                )
                log = await wait_for_log(api, "dc", "IDE settings set: editor.tabSize.", 300)
                instance = instance_name_for(PREFIX, made["id"])

                assert await sh(runtime, instance, "stat -c %U ~/app ~/app/README | sort -u") == (
                    "dev"
                )
                for ignored in ("'features'", "'postAttachCommand'"):
                    assert f"warning: {ignored} is not supported by Tidepool" in log, log
                assert "POSTCREATE-OUTPUT" in log, log

                # A new terminal of the IDE: an interactive shell, not a login one.
                terminal = await sh(
                    runtime, instance, "bash -ic 'echo $APP_MODE; echo $TOOLS_PATH; echo $WHO'"
                )
                mode, tools, who = terminal.splitlines()[-3:]
                assert mode == "dev" and tools.endswith(":/opt/tools") and "/usr/bin" in tools
                assert who == "dc", "localEnv: what Tidepool tells the workspace of itself"
                login = await sh(runtime, instance, "bash -lc 'echo $APP_MODE $FOLDER'")
                assert login == "dev /home/dev/app"

                assert await sh(runtime, instance, "cat ~/post-create-user") == "dev"
                extensions = await sh(runtime, instance, f"{CODE_SERVER} --list-extensions")
                assert "tidepool-test.hello" in extensions.split(), log
                machine = await sh(
                    runtime, instance, "cat ~/.local/share/code-server/Machine/settings.json"
                )
                assert json.loads(machine)["editor.tabSize"] == 3

                shown = await api.get("dc")
                [port] = shown["ports"]
                assert port["port"] == 8081
                assert port["url"] == shown["url"].split("?")[0] + "proxy/8081/"

                await api.act("dc", "stop")
                await wait_for_status(api, "dc", {"stopped"})
                await api.act("dc", "start")
                await wait_for_status(api, "dc", {"running"})
                await wait_for_log(api, "dc", "Cloned at an earlier boot.", 120)
                for _ in range(100):
                    starts = await sh(runtime, instance, "cat ~/starts 2>/dev/null || true")
                    if starts.split() == ["started", "started"]:
                        break
                    await asyncio.sleep(0.3)
                assert starts.split() == ["started", "started"], "postStartCommand, every start"
                assert await sh(runtime, instance, "cat ~/creations") == "once"
                await delete_and_wait(api, "dc")
        finally:
            await runtime.aclose()
            serve.stop()
