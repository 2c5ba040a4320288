"""Why a Caddy died (``adapters.caddy.deaths``), over /proc and cgroup trees laid out as the
kernel lays them out (v2, v1's memory controller, a hybrid host), in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tidepool.adapters.caddy import deaths

PID = 4242
EVENTS = "low 0\nhigh 0\nmax 3\noom 1\noom_kill {}\noom_group_kill 0\n"
OOM_CONTROL = "oom_kill_disable 0\nunder_oom 0\noom_kill {}\n"


def tree(tmp_path: Path, cgroup: str, counter: str, text: str) -> tuple[Path, Path, Path]:
    """A /proc naming ``cgroup`` for PID, and a cgroup root with ``counter`` holding
    ``text``; returns (proc, root, counter file)."""
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / str(PID)).mkdir(parents=True)
    (proc / str(PID) / "cgroup").write_text(cgroup)
    path = root / counter
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return proc, root, path


@pytest.mark.parametrize(
    ("cgroup", "counter", "text"),
    [
        ("0::/system.slice/tidepool.service\n", "system.slice/tidepool.service/memory.events",
         EVENTS),
        ("0::/tp\n", "unified/tp/memory.events", EVENTS),  # hybrid: v2 under unified/
        ("4:memory:/runner/7\n2:cpuacct:/\n0::/\n", "memory/runner/7/memory.oom_control",
         OOM_CONTROL),
    ],
)  # fmt: skip
def test_a_sigkill_with_a_risen_oom_counter_was_out_of_memory(
    tmp_path: Path, cgroup: str, counter: str, text: str
) -> None:
    proc, root, path = tree(tmp_path, cgroup, counter, text.format(2))
    watched = deaths.watch(PID, 0, proc=proc, root=root)
    assert watched.oom is not None and watched.oom.path == path and watched.oom.at_start == 2
    assert deaths.explain(-9, watched, tmp_path / "no.log").out_of_memory is False
    path.write_text(text.format(3))
    death = deaths.explain(-9, watched, tmp_path / "no.log")
    assert death.signal == "SIGKILL" and death.out_of_memory is True
    assert death.cause == "killed by SIGKILL: out of memory (its cgroup's OOM killer)"


def test_without_a_readable_counter_a_sigkill_may_be_either(tmp_path: Path) -> None:
    proc, root, _ = tree(tmp_path, "0::/tp\n", "tp/memory.events", "oom 0\n")  # no oom_kill
    watched = deaths.watch(PID, 0, proc=proc, root=root)
    assert watched.oom is None
    death = deaths.explain(-9, watched, tmp_path / "no.log")
    assert death.cause == "killed by SIGKILL (out of memory or killed by hand)"
    gone = deaths.watch(PID + 1, 0, proc=proc, root=root)  # no /proc entry at all
    assert gone.oom is None


def test_an_exit_code_and_an_unreaped_death_are_told_apart(tmp_path: Path) -> None:
    watched = deaths.Watched(pid=PID, oom=None, log_offset=0)
    assert deaths.explain(1, watched, tmp_path / "no.log").cause == "exited with code 1"
    assert deaths.explain(-11, watched, tmp_path / "no.log").cause == "killed by SIGSEGV"
    assert deaths.explain(None, watched, tmp_path / "no.log").exit_code is None


def test_its_last_words_are_what_it_wrote_since_it_started(tmp_path: Path) -> None:
    log = tmp_path / "caddy.log"
    log.write_text("an older Caddy's line\n")
    offset = deaths.log_size(log)
    entries = [{"level": "info", "logger": "http", "msg": f"line {i}"} for i in range(6)]
    entries.append({"level": "error", "msg": "loading config", "error": "bad json"})
    with log.open("a") as out:
        out.writelines(json.dumps(entry) + "\n" for entry in entries)
        out.write("panic: " + "x" * 1000 + "\n")
    said = deaths.last_lines(log, offset)
    assert len(said) == deaths.LAST_LINES
    assert said[:3] == ("info http line 3", "info http line 4", "info http line 5")
    assert said[3] == "error loading config bad json"
    assert said[4].startswith("panic: x") and len(said[4]) == deaths.LINE_CHARS
    assert deaths.last_lines(log, deaths.log_size(log)) == (), "nothing new: nothing said"
    assert deaths.last_lines(tmp_path / "none.log", 0) == ()
