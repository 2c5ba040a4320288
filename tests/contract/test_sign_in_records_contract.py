"""Sign-in records on each backend, and two processes sharing PostgreSQL.

The stores (sessions, tokens, users, SSH keys) run over a ``RecordFile`` (SQLite's data
directory) and a ``RecordTable`` (PostgreSQL) alike. On PostgreSQL two ``RecordTable``s, each
with its own engine and cache, stand for two ``serve`` processes: what one does the other
sees at once (a new session, a new token) or within ``RECHECK_SECONDS`` (a sign-out, a
revocation, a removed user), and neither loses the other's writes. Handshake codes issued by
one are traded at the other exactly once. PostgreSQL comes from ``TIDEPOOL_TEST_POSTGRES_URL``:
without it these FAIL, never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tidepool.auth.handshake import CodeClaim
from tidepool.auth.idle_choices import IdleChoices
from tidepool.auth.personal import PersonalFiles
from tidepool.auth.records import RecordSet
from tidepool.auth.sessions import SessionStore, sweep_sessions
from tidepool.auth.ssh_keys import SshKeyStore
from tidepool.auth.token_cache import TOKEN_SWEEP_SECONDS
from tidepool.auth.tokens import TokenStore
from tidepool.auth.users import UserFile, users_in_file
from tidepool.domain.activity import IdleBounds
from tidepool.domain.origins import WorkspaceHost
from tidepool.domain.personal import git_credential
from tidepool.domain.repositories import repository
from tidepool.errors import ConflictError, NotFoundError, RuntimeUnavailableError
from tidepool.server import SESSION_SWEEP_SECONDS
from tidepool.settings import Settings
from tidepool.sign_in_records import move_into_database
from tidepool.store import migrate
from tidepool.store import records as records_module
from tidepool.store.handshake_codes import SharedCodes
from tidepool.store.records import MOVED_SUFFIX, RECHECK_SECONDS, RecordTable, shared_engine
from tidepool.store.urls import sync_url

POSTGRES_ENV = "TIDEPOOL_TEST_POSTGRES_URL"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ann@laptop"
#: The promise: a sign-out or revocation through one process is refused by another within
#: this (``RECHECK_SECONDS`` and a round trip; the session map's sweep is separate).
REFUSED_WITHIN = RECHECK_SECONDS + 0.5


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(
            f"{POSTGRES_ENV} is not set: run "
            f"`export {POSTGRES_ENV}=$(./scripts/postgres | tail -n1)`."
        )
    return url


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema of the test PostgreSQL, migrated; yields its URL."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(sync_url(postgres_url()), poolclass=sa.pool.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(postgres_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        migrate.upgrade(rendered)
        yield rendered
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def pg() -> Iterator[str]:
    with pg_schema() as url:
        yield url
        # The process-wide engines a composition-root test made for this schema.
        engine = records_module._engines.pop(url, None)
        if engine is not None:
            engine.dispose()


Process = Callable[[str], RecordSet]


@pytest.fixture
def processes(pg: str) -> Iterator[tuple[Process, Process]]:
    """Two processes on one PostgreSQL: each makes a record set by name, on its own engine."""
    engines = [sa.create_engine(sync_url(pg), pool_size=4) for _ in range(2)]

    def process(engine: sa.Engine) -> Process:
        return lambda name: RecordTable(engine, name)

    try:
        yield process(engines[0]), process(engines[1])
    finally:
        for engine in engines:
            engine.dispose()


@pytest.fixture(params=["file", "table"])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Process]:
    """Record sets of one backend: files in a data directory, or rows of PostgreSQL."""
    if request.param == "file":
        yield lambda name: tmp_path / f"{name}.json"  # type: ignore[return-value]
        return
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(pg_schema())
        engine = sa.create_engine(sync_url(url))
        stack.callback(engine.dispose)
        yield lambda name: RecordTable(engine, name)


# --- The stores behave the same on each backend ---------------------------------------------


def test_sessions_live_and_end(records: Process) -> None:
    sessions = SessionStore(records("sessions"))
    token, session = sessions.create("ann")
    assert sessions.find(token) == session
    assert sessions.live_keys() == {session.key}
    assert sessions.end(session.key) is True
    assert sessions.find(token) is None
    assert sessions.end(session.key) is False


def test_sessions_of_removed_users_are_pruned(records: Process) -> None:
    sessions = SessionStore(records("sessions"))
    _, ann = sessions.create("ann")
    _, bob = sessions.create("bob")
    assert sessions.prune(frozenset({"ann"})) == [bob.key]
    assert sessions.live_keys() == {ann.key}


def test_tokens_live_and_revoked(records: Process) -> None:
    tokens = TokenStore(records("tokens"))
    secret, token = tokens.create("ann", "laptop", days=1)
    assert tokens.find(secret) == token
    assert tokens.revoke(token.id).revoked
    assert tokens.find(secret) is None
    assert [t.id for t in tokens.list("ann")] == [token.id]
    with pytest.raises(NotFoundError):
        tokens.revoke("0123456789ab")


def test_users_added_changed_and_removed(records: Process) -> None:
    users = UserFile(records("users"))
    users.add("ann", "long enough", admin=True)
    users.add("bob", "long enough")
    with pytest.raises(ConflictError):
        users.add("bob", "another one")
    assert users.names() == {"ann", "bob"} and users.admins() == {"ann"}
    assert users.check_password("bob", "long enough") is not None
    assert users.set_quota("bob", {"workspaces": 2}).quota == {"workspaces": 2}
    users.remove("ann")
    assert users.names() == {"bob"} and not users.exists("ann")
    with pytest.raises(NotFoundError):
        users.remove("ann")


def test_a_refused_change_writes_nothing(records: Process) -> None:
    keys = SshKeyStore(records("ssh_keys"))
    added = keys.add("ann", KEY)
    with pytest.raises(ConflictError):
        keys.add("bob", KEY)
    assert [k.id for k in keys.list("ann")] == [added.id] and keys.list("bob") == []


def test_personal_settings_and_idle_choices(records: Process) -> None:
    personal = PersonalFiles(records("personal"))
    personal.set_dotfiles("ann", repository("https://git.example/ann/dots.git", "main"))
    personal.set_credential("ann", git_credential("git.example", "ann", "s3cret"))
    assert personal.personal("ann").dotfiles == repository(
        "https://git.example/ann/dots.git", "main"
    )
    assert personal.remove_credential("ann", "git.example") is True
    assert personal.personal("ann").credentials == () and personal.personal("bob").dotfiles is None
    choices = IdleChoices(records("idle_timeouts"), IdleBounds(10, 120), 30)
    choices.choose("ann", 45)
    assert choices.of("ann") == 45 and choices.chosen("bob") is None
    choices.choose("ann", None)
    assert choices.chosen("ann") is None


def test_an_unreachable_database_is_a_transient_error_soon() -> None:
    engine = shared_engine("postgresql://tidepool:x@127.0.0.1:1/nothing")
    started = time.monotonic()
    with pytest.raises(RuntimeUnavailableError):
        SessionStore(RecordTable(engine, "sessions")).find("a-cookie")
    assert time.monotonic() - started < 5


# --- Two processes on one PostgreSQL ---------------------------------------------------------


def test_a_session_made_through_one_process_is_found_by_another_at_once(
    processes: tuple[Process, Process],
) -> None:
    a, b = (SessionStore(p("sessions")) for p in processes)
    assert b.live_keys() == set()  # b holds a copy from before the sign-in
    token, session = a.create("ann")
    assert b.find(token) == session


def test_a_sign_out_through_one_process_is_refused_by_another_within_the_promise(
    processes: tuple[Process, Process],
) -> None:
    a, b = (SessionStore(p("sessions")) for p in processes)
    token, session = a.create("ann")
    assert b.find(token) is not None
    a.end(session.key)
    assert _seconds_until(lambda: b.find(token) is None) <= REFUSED_WITHIN


def test_a_revocation_and_a_removal_through_one_process_reach_another(
    processes: tuple[Process, Process],
) -> None:
    (tokens_a, tokens_b) = (TokenStore(p("tokens")) for p in processes)
    (users_a, users_b) = (UserFile(p("users")) for p in processes)
    users_a.add("ann", "long enough")
    secret, token = tokens_a.create("ann")
    assert tokens_b.find(secret) == token and users_b.exists("ann")  # found at once
    tokens_a.revoke(token.id)
    users_a.remove("ann")
    assert _seconds_until(lambda: tokens_b.find(secret) is None) <= REFUSED_WITHIN
    assert _seconds_until(lambda: "ann" not in users_b.names()) <= REFUSED_WITHIN


async def test_the_session_map_of_another_process_loses_a_signed_out_session(
    processes: tuple[Process, Process],
) -> None:
    a, b = (SessionStore(p("sessions")) for p in processes)
    token, session = a.create("ann")
    caddy_b = FakeSessionMap()
    found = b.find(token)
    assert found is not None
    await caddy_b.remember(found.key, token, "ann")
    a.end(session.key)
    await asyncio.sleep(RECHECK_SECONDS)
    # What b's session sweeper does every SESSION_SWEEP_SECONDS: the promise's 2 s, as for
    # tokens (docs/security.md).
    assert SESSION_SWEEP_SECONDS <= TOKEN_SWEEP_SECONDS == 2.0
    assert await sweep_sessions(b, caddy_b, frozenset({"ann"})) == 1
    assert await caddy_b.known() == set()


def test_concurrent_changes_through_two_processes_lose_no_write(
    processes: tuple[Process, Process],
) -> None:
    sets = [p("idle_timeouts") for p in processes]
    each = 40

    def write(index: int) -> None:
        for n in range(each):
            with sets[index].change() as records:
                records[f"{index}-{n}"] = {"minutes": n}

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sets[0].read_fresh()) == len(sets[1].read_fresh()) == 2 * each


def test_existing_files_are_imported_once_and_kept(pg: str, tmp_path: Path) -> None:
    old = SessionStore(tmp_path / "sessions.json")
    kept, _ = old.create("ann")
    ended, ending = old.create("bob")
    engine = sa.create_engine(sync_url(pg))
    try:
        first = SessionStore(
            RecordTable(engine, "sessions", import_from=tmp_path / "sessions.json")
        )
        assert first.find(kept) is not None and first.find(ended) is not None
        assert not (tmp_path / "sessions.json").exists()
        assert (tmp_path / f"sessions.json{MOVED_SUFFIX}").exists()
        first.end(ending.key)
        # A later start, with the moved file still beside it, does not bring bob's back.
        again = SessionStore(
            RecordTable(engine, "sessions", import_from=tmp_path / "sessions.json")
        )
        assert again.find(kept) is not None and again.find(ended) is None
    finally:
        engine.dispose()


def test_two_hosts_importing_at_once_keep_both_files(pg: str, tmp_path: Path) -> None:
    files = []
    for host in ("one", "two"):
        (tmp_path / host).mkdir()
        users = UserFile(tmp_path / host / "users.json")
        users.add(f"user-{host}", "long enough")
        files.append(users.path)
    engines = [sa.create_engine(sync_url(pg)) for _ in files]
    tables = [
        RecordTable(engine, "users", import_from=path, parse=users_in_file)
        for engine, path in zip(engines, files, strict=True)
    ]
    try:
        threads = [threading.Thread(target=table.read_fresh) for table in tables]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together = UserFile(tables[0])
        assert {u.name for u in together.load(fresh=True)} == {"user-one", "user-two"}
        assert together.check_password("user-two", "long enough") is not None
    finally:
        for engine in engines:
            engine.dispose()


def test_database_copy_moves_every_record_file(pg: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    UserFile(settings.users_file).add("ann", "long enough")
    token, _ = TokenStore(settings.tokens_file).create("ann")
    (tmp_path / "unrelated.json").write_text(json.dumps({"records": {}}))
    assert sorted(move_into_database(settings, pg)) == ["tokens.json", "users.json"]
    engine = sa.create_engine(sync_url(pg))
    try:
        assert TokenStore(RecordTable(engine, "tokens")).find(token) is not None
        assert UserFile(RecordTable(engine, "users")).names() == {"ann"}
    finally:
        engine.dispose()


# --- Handshake codes -------------------------------------------------------------------------


def test_a_code_issued_by_one_process_is_traded_at_another_exactly_once(pg: str) -> None:
    engines = [sa.create_engine(sync_url(pg), pool_size=8) for _ in range(2)]
    a, b = (SharedCodes(engine) for engine in engines)
    host = WorkspaceHost("alpha", None)
    try:
        code = a.issue(CodeClaim("ann", host, "session:abc"))
        assert b.redeem(code, host) == CodeClaim("ann", host, "session:abc")
        assert a.redeem(code, host) is None and b.redeem(code, host) is None
        # Two processes racing with one code: exactly one claim.
        for _ in range(5):
            code = a.issue(CodeClaim("ann", host, "s"))
            won: list[object] = []

            def trade(codes: SharedCodes, code: str = code, won: list[object] = won) -> None:
                won.append(codes.redeem(code, host))

            racers = [threading.Thread(target=trade, args=(c,)) for c in (a, b, a, b)]
            for racer in racers:
                racer.start()
            for racer in racers:
                racer.join()
            assert sum(claim is not None for claim in won) == 1
    finally:
        for engine in engines:
            engine.dispose()


def test_a_code_is_spent_on_the_wrong_origin_and_dies_after_its_lifetime(pg: str) -> None:
    engine = sa.create_engine(sync_url(pg))
    try:
        codes, short = SharedCodes(engine), SharedCodes(engine, lifetime_seconds=0.2)
        alpha, port = WorkspaceHost("alpha", None), WorkspaceHost("alpha", 3000)
        code = codes.issue(CodeClaim("ann", port, "s"))
        assert codes.redeem(code, alpha) is None and codes.redeem(code, port) is None
        code = codes.issue(CodeClaim("ann", port, "s"))
        assert codes.redeem(code, port) == CodeClaim("ann", port, "s")
        late = short.issue(CodeClaim("ann", alpha, "s"))
        time.sleep(0.4)
        assert short.redeem(late, alpha) is None
        assert codes.redeem("", alpha) is None and codes.redeem("x" * 200, alpha) is None
    finally:
        engine.dispose()


class FakeSessionMap:
    """Caddy's session map, as ``SessionCache`` sees it: keys by their 32-digit prefix."""

    def __init__(self) -> None:
        self.held: set[str] = set()

    async def remember(self, key: str, token: str, user: str) -> None:
        self.held.add(key[:32])

    async def forget(self, key: str) -> None:
        self.held.discard(key[:32])

    async def known(self) -> set[str]:
        return set(self.held)


def _seconds_until(condition: Callable[[], bool], limit: float = 5.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, "never happened"
        time.sleep(0.02)
    return time.monotonic() - started


def test_the_proxy_config_sees_users_changed_through_another_process(
    processes: tuple[Process, Process],
) -> None:
    a, b = (UserFile(p("users")) for p in processes)
    before = b.version()
    a.add("ann", "long enough")
    assert _seconds_until(lambda: b.version() != before) <= REFUSED_WITHIN


async def test_two_serve_wired_from_settings_share_sign_in(
    pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``serve`` builds (``edge_parts.authenticator``, ``handshake_codes``) on two hosts,
    each its own data directory: the users file of the first host is taken in, a session
    signed in through it is the second's too, and a code from one is traded at the other."""
    from tidepool import edge_parts, sign_in_records

    hosts = [Settings(data_dir=tmp_path / h, database_url=pg, auth="forward_auth") for h in "ab"]
    UserFile(hosts[0].users_file).add("ann", "long enough")
    built = []
    for settings in hosts:
        monkeypatch.setattr(sign_in_records, "_tables", {})  # each process its own objects
        authenticator = edge_parts.authenticator(settings)
        assert authenticator is not None
        built.append((authenticator, sign_in_records.handshake_codes(settings)))
    (a, codes_a), (b, codes_b) = built
    token, _ = await a.sign_in("ann", "long enough", "127.0.0.1")
    principal = b.identify(token, None)
    assert principal is not None and principal.user == "ann"
    host = WorkspaceHost("alpha", None)
    assert codes_b.redeem(codes_a.issue(CodeClaim("ann", host, "s")), host) is not None
    assert not hosts[0].users_file.exists()
    for settings in hosts:  # SQLite: the data directory's files, as before
        local = settings.model_copy(update={"database_url": ""})
        assert isinstance(sign_in_records.record_set(local, local.sessions_file), Path)
