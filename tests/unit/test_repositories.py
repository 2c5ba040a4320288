"""Repositories on create: what is accepted, what reaches git, and that setup never fails a
workspace."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping, Sequence

import httpx
import pytest

from tidepool.adapters.fakes.routes import InMemoryRouteTable
from tidepool.adapters.fakes.runtime import FakeInstance, InMemoryRuntime
from tidepool.api.app import create_app
from tidepool.api.deps import ControlPlane
from tidepool.api.routers.workspaces import only_logs
from tidepool.domain.identity import Identity
from tidepool.domain.personal import Personal, git_credential
from tidepool.domain.repositories import Repository, repository
from tidepool.domain.templates import Catalog, Maximums, Size, Template
from tidepool.domain.workspace import Status
from tidepool.edge import USER_HEADER
from tidepool.errors import InvalidInputError
from tidepool.ports import ExecResult
from tidepool.services import setup_scripts as scripts
from tidepool.services.reconcile import ReconcileLimits, Reconciler
from tidepool.services.setup import Setup
from tidepool.services.setup_runner import SetupRunner
from tidepool.services.workspaces import WorkspaceService, instance_name
from tidepool.store.memory import memory_store

ANN = Identity("ann", admin=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ssh://git.example.test/team/app.git", "https://"),
        ("git@git.example.test:team/app.git", "https://"),
        ("file:///etc/passwd", "https://"),
        ("ext::sh -c reboot", "without spaces"),
        ("https://user:secret@git.example.test/app.git", "user name or password"),
        ("https://git.example.test", "names no repository"),
        ("https://git.example.test:port/app.git", "port"),
        ("https://git.example.test/app.git\n--upload-pack=x", "without spaces"),
        ("https://" + "a" * 600, "at most 500"),
    ],
)
def test_a_repository_url_that_git_should_not_see_is_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        repository(url)


@pytest.mark.parametrize("branch", ["-upload-pack=x", "a..b", "/abs", "x.lock", "sp ace", "a//b"])
def test_a_branch_name_git_would_not_take_is_refused(branch: str) -> None:
    with pytest.raises(InvalidInputError, match="branch"):
        repository("https://git.example.test/app.git", branch)


def test_the_clone_folder_comes_from_the_url() -> None:
    assert repository("https://git.example.test/team/app.git", "feature/x").folder == "app"
    assert repository("http://10.0.0.5:8000/srv/tools/").folder == "tools"
    assert Repository("https://git.example.test/-x.git").folder == "project"


CATALOG = Catalog(
    [
        Template("default", "", "img", Size()),
        Template("web", "", "img", Size(), Repository("https://git.example.test/web.git", "main")),
    ],
    Maximums(8, 8192, 50),
)


async def test_a_create_takes_the_templates_repository_or_its_own() -> None:
    service = WorkspaceService(memory_store()[0], default_image="img", catalog=CATALOG)
    from_template = await service.create("one", who=ANN, template="web")
    assert from_template.repository == Repository("https://git.example.test/web.git", "main")
    other = await service.create("two", who=ANN, template="web", branch="dev")
    assert other.repository == Repository("https://git.example.test/web.git", "dev")
    own = await service.create("three", who=ANN, repository_url="https://git.example.test/x.git")
    assert own.repository == Repository("https://git.example.test/x.git", "")
    with pytest.raises(InvalidInputError, match="needs a repository"):
        await service.create("four", who=ANN, branch="dev")
    assert (await service.create("five", who=ANN)).repository is None


class GitInTheGuest:
    """Answers the setup's scripts as the guest's shell would: the clone's output goes to
    its log file, which reads return from an offset; remembers what each script got."""

    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code, self.output = exit_code, output
        self.files: dict[str, bytes] = {}
        self.calls: list[tuple[str, int | None, dict[str, str]]] = []

    def __call__(
        self, instance: FakeInstance, argv: Sequence[str], user: int | None, env: Mapping[str, str]
    ) -> ExecResult | None:
        if list(argv[:3]) == ["sh", "-c", scripts.PREPARE_FOLDER]:
            self.calls.append(("prepare", user, dict(env)))
            return ExecResult(0, "", "")
        if list(argv[:3]) == ["sh", "-c", scripts.STREAMED] and argv[4] == scripts.CLONE:
            self.calls.append(("clone", user, dict(env)))
            self.files[env["TIDEPOOL_LOG"]] = self.output.encode()
            return ExecResult(self.exit_code, "", "")
        if list(argv[:3]) == ["sh", "-c", scripts.READ_LOG]:
            start, size = int(argv[4]) - 1, int(argv[5])
            chunk = self.files.get(env["TIDEPOOL_LOG"], b"")[start : start + size]
            return ExecResult(0, base64.b64encode(chunk).decode(), "")
        return None


@pytest.mark.parametrize(("exit_code", "phase"), [(0, "cloned"), (128, "clone_failed")])
async def test_the_clone_runs_as_the_user_with_the_url_in_its_environment_and_never_fails_it(
    exit_code: int, phase: str
) -> None:
    git = GitInTheGuest(exit_code, "fatal: repository not found\n" if exit_code else "done\n")
    runtime = InMemoryRuntime(images=["img"], exec_handler=git)
    store, _ = memory_store()
    ide = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    reconciler = Reconciler(
        store, runtime, InMemoryRouteTable(), ide, ReconcileLimits(), installation="0" * 32
    )
    service = WorkspaceService(store, default_image="img", catalog=CATALOG)
    made = await service.create("web1", who=ANN, template="web")
    workspace = await reconciler.reconcile(made.id)
    assert workspace.status is Status.RUNNING, "a clone never fails the workspace"
    assert [step for step, _, _ in git.calls] == ["prepare", "clone"]
    [(_, user, env)] = [call for call in git.calls if call[0] == "clone"]
    assert user == 1000
    assert env["TIDEPOOL_REPOSITORY"] == "https://git.example.test/web.git"
    assert (env["TIDEPOOL_BRANCH"], env["TIDEPOOL_FOLDER"]) == ("main", "web")
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    events = await store.events(made.id, after=0)
    logged = "\n".join(e.detail for e in events if e.kind == "log")
    phases = [e.value for e in events if e.kind == "phase"]
    assert phases[-4:] == ["route_live", "setup_started", phase, "setup_finished"]
    assert ("repository not found" in logged) is bool(exit_code)
    assert ("tried again at the next start" in logged) is bool(exit_code)


async def test_the_api_takes_a_repository_and_shows_the_setup_log_to_its_owner_only() -> None:
    store = memory_store()[0]
    service = WorkspaceService(store, default_image="img", catalog=CATALOG)
    plane = ControlPlane(service, store, "http://t.test", auth=True)
    transport = httpx.ASGITransport(app=create_app(plane))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={USER_HEADER: "ann"}
    ) as api:
        refused = await api.post(
            "/api/workspaces", json={"name": "w", "repository": "https://u:p@x.test/a.git"}
        )
        assert refused.status_code == 400 and "password" in refused.json()["detail"]
        made = await api.post(
            "/api/workspaces",
            json={"name": "w", "repository": "https://git.example.test/a.git", "branch": "dev"},
        )
        assert (made.json()["repository"], made.json()["branch"]) == (
            "https://git.example.test/a.git",
            "dev",
        )
        assert made.json()["url"].endswith("/?folder=/home/dev/a"), "the IDE opens on it"
        await store.add_event(made.json()["id"], "log", "clone", "Cloned into /home/dev/a.")
        logs = (await api.get("/api/workspaces/w/logs")).json()["items"]
        assert [(entry["step"], entry["text"]) for entry in logs] == [
            ("clone", "Cloned into /home/dev/a.")
        ]
        other = await api.get("/api/workspaces/w/logs", headers={USER_HEADER: "bob"})
        assert other.status_code == 404


async def test_following_the_log_passes_log_events_and_what_keeps_the_stream_alive() -> None:
    async def stream() -> AsyncIterator[str]:
        for chunk in (
            "retry: 1000\n\n",
            'id: 1\nevent: status\ndata: {"kind": "status"}\n\n',
            'id: 2\nevent: log\ndata: {"kind": "log"}\n\n',
            ": keep-alive\n\n",
        ):
            yield chunk

    passed = [chunk async for chunk in only_logs(stream())]
    assert passed == [
        "retry: 1000\n\n",
        'id: 2\nevent: log\ndata: {"kind": "log"}\n\n',
        ": keep-alive\n\n",
    ]


class Guest(GitInTheGuest):
    """``GitInTheGuest`` that also runs the dotfiles and tells git of credentials."""

    def __call__(
        self, instance: FakeInstance, argv: Sequence[str], user: int | None, env: Mapping[str, str]
    ) -> ExecResult | None:
        if list(argv[:3]) == ["sh", "-c", scripts.CREDENTIAL_HELPER]:
            self.calls.append(("credentials", user, dict(env)))
            return ExecResult(0, "", "")
        if list(argv[:3]) == ["sh", "-c", scripts.STREAMED] and argv[4] == scripts.DOTFILES:
            self.calls.append(("dotfiles", user, dict(env)))
            self.files[env["TIDEPOOL_LOG"]] = b"Running install.sh\n"
            return ExecResult(0, "", "")
        return super().__call__(instance, argv, user, env)


async def test_the_owners_credentials_and_dotfiles_reach_their_workspace_and_no_other() -> None:
    secret = "ghp_aVeryPrivateToken"
    personal = {
        "ann": Personal(
            dotfiles=repository("https://git.example.test/ann/dotfiles.git"),
            credentials=(git_credential("git.example.test", "ann", secret),),
        )
    }
    guest = Guest(0, "done\n")
    runtime = InMemoryRuntime(images=["img"], exec_handler=guest)
    store, _ = memory_store()
    setup = Setup(
        runtime, store, poll=0.01, personal_of=lambda user: personal.get(user, Personal())
    )
    ide = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    reconciler = Reconciler(
        store,
        runtime,
        InMemoryRouteTable(),
        ide,
        ReconcileLimits(),
        installation="0" * 32,
        setup=SetupRunner(setup, store),
    )
    service = WorkspaceService(store, default_image="img", catalog=CATALOG)
    anns = await reconciler.reconcile((await service.create("a1", who=ANN)).id)
    assert [step for step, _, _ in guest.calls] == ["credentials", "dotfiles"]
    [(_, root, helper_env)] = [c for c in guest.calls if c[0] == "credentials"]
    assert root is None and secret not in str(helper_env), "the secret is no one's environment"
    [(_, user, dotfiles_env)] = [c for c in guest.calls if c[0] == "dotfiles"]
    assert user == 1000 and secret not in str(dotfiles_env)
    written = runtime.instances[instance_name(anns)].files["/run/tidepool/git-credentials"]
    assert (written.mode, written.uid, written.gid) == (0o600, 1000, 1000)
    assert secret.encode() in written.content
    logged = "\n".join(e.detail for e in await store.events(anns.id) if e.kind == "log")
    assert "Git uses your credentials for git.example.test." in logged and secret not in logged

    guest.calls.clear()
    bob = Identity("bob", admin=False)
    bobs = await reconciler.reconcile((await service.create("b1", who=bob)).id)
    assert guest.calls == [], "nothing to set up: not a single call into the workspace"
    assert "/run/tidepool/git-credentials" not in runtime.instances[instance_name(bobs)].files
