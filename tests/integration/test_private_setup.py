"""A user's git credential and dotfiles on real Incus workspaces, with git served from a
namespace of the test's own (``support.git_server``, ``private/`` behind basic auth): the
owner's private repository clones through git's credential helper, another user's workspace
cannot read it, and the secret is in no log, process list or environment; dotfiles with an
``install.sh`` run it once, as ``dev``; dotfiles without one are linked into home.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.git_server import git_server
from support.ports import free_port
from support.serve import ServeProcess, delete_and_wait, wait_for_log, wait_for_status
from support.users import write_users
from tidepool.bootstrap import build_runtime
from tidepool.domain.names import instance_name_for
from tidepool.ports import Runtime
from tidepool.settings import Settings

pytestmark = [pytest.mark.incus, pytest.mark.caddy]
PREFIX = "tpp"
SECRET = "Pa55-w0rd-tok3n"
INSTALL = """#!/bin/sh
echo ran >> "$HOME/install-runs"
id -un > "$HOME/install-user"
"""
#: Everything a workspace's processes show of themselves: command lines and environments.
EXPOSED = "cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'"


async def shell(runtime: Runtime, instance: str, script: str, user: int | None = 1000) -> str:
    home = {"HOME": "/home/dev"} if user else {}
    done = await runtime.exec(instance, ["sh", "-c", script], user=user, env=home)
    return done.stdout.strip()


async def test_a_private_repository_and_dotfiles_reach_their_owners_workspaces_only(
    tmp_path: Path,
) -> None:
    with git_server(user=f"ann:{SECRET}") as git:
        private = git.add("private/app.git", {"README": "private\n"})
        installed = git.add("dotfiles-install.git", {"install.sh": INSTALL})
        linked = git.add("dotfiles-linked.git", {".toolrc": "linked\n", "README.md": "x\n"})
        host = private.split("/")[2]
        data = tmp_path / "data"
        data.mkdir()
        write_users(data / "users.json", {"ann": "ann-password-1", "bob": "bob-password-1"})
        signed_in = {"TIDEPOOL_AUTH": "forward_auth"}
        serve = ServeProcess(data, free_port(), f"sqlite:///{data / 'tp.db'}", PREFIX, signed_in)
        serve.start()
        runtime = build_runtime(Settings())
        try:
            async with serve.api("ann") as ann, serve.api("bob") as bob:
                await ann.set_git_credential(host, "ann", SECRET)
                await ann.set_dotfiles(installed)
                await bob.set_dotfiles(linked)
                mine = await ann.create("mine", repository=private)
                theirs = await bob.create("theirs", repository=private)
                for api, name in ((ann, "mine"), (bob, "theirs")):
                    assert (await wait_for_status(api, name, {"running", "failed"}))[
                        "status"
                    ] == "running"
                told = await wait_for_log(ann, "mine", "Dotfiles installed by install.sh.", 120)
                assert "Cloned into /home/dev/app." in told, told
                refused = await wait_for_log(bob, "theirs", "linked ~/.toolrc", 120)
                assert "The clone failed" in refused, refused

                my_instance = instance_name_for(PREFIX, mine["id"])
                their_instance = instance_name_for(PREFIX, theirs["id"])
                assert await shell(runtime, my_instance, "cat ~/app/README") == "private"
                assert await shell(runtime, my_instance, "cat ~/install-user") == "dev"
                assert await shell(runtime, their_instance, "readlink ~/.toolrc") == (
                    "/home/dev/.dotfiles/.toolrc"
                )
                assert await shell(runtime, their_instance, "ls ~/app") == "", "nothing read"
                gone = "test -e /run/tidepool/git-credentials || echo none"
                assert await shell(runtime, their_instance, gone, user=None) == "none"

                # The secret: in the owner's credential file, and nowhere else.
                for instance in (my_instance, their_instance):
                    assert SECRET not in await shell(runtime, instance, EXPOSED, user=None)
                for api, name in ((ann, "mine"), (bob, "theirs")):
                    assert SECRET not in str(await api.logs(name))
                assert SECRET not in serve.log()
                assert SECRET not in (data / "audit.log").read_text()
                assert SECRET not in str(await ann.git_credentials())

                # The install script ran once: a restart does not run it again.
                await ann.act("mine", "stop")
                await wait_for_status(ann, "mine", {"stopped"})
                await ann.act("mine", "start")
                await wait_for_status(ann, "mine", {"running"})
                await wait_for_log(ann, "mine", "Dotfiles installed at an earlier boot.", 120)
                assert await shell(runtime, my_instance, "cat ~/install-runs") == "ran"
                pull = "cd ~/app && git pull -q && echo pulled"
                assert await shell(runtime, my_instance, pull) == "pulled", "the user's own pulls"
                await delete_and_wait(ann, "mine")
                await delete_and_wait(bob, "theirs")
        finally:
            await runtime.aclose()
            serve.stop()
