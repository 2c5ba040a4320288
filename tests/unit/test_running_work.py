"""Which processes are someone's work (and keep a workspace up), and which are the baseline."""

from __future__ import annotations

from tidepool.domain.work import Process, describe, work

CODE_SERVER = "/opt/tidepool/code-server/lib/node/bin/node"


def proc(pid: int, ppid: int, uid: int, *argv: str) -> Process:
    return Process(pid=pid, ppid=ppid, uid=uid, argv=argv)


#: What a fresh workspace runs: systemd and its services, sshd, the SSH bridge, code-server
#: and its helpers, and a terminal's shell at its prompt.
BASELINE = [
    proc(1, 0, 0, "/sbin/init"),
    proc(40, 1, 0, "/lib/systemd/systemd-journald"),
    proc(60, 1, 0, "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
    proc(61, 1, 998, "/usr/bin/python3", "/usr/bin/websockify", "0.0.0.0:2222", "127.0.0.1:22"),
    proc(70, 1, 1000, CODE_SERVER, "/opt/tidepool/code-server/lib/node_modules/code-server"),
    proc(
        71, 70, 1000, CODE_SERVER, "/opt/tidepool/code-server/out/bootstrap-fork", "--type=ptyHost"
    ),
    proc(72, 71, 1000, "/bin/bash", "--login"),
    proc(73, 1, 1000, "/lib/systemd/systemd", "--user"),
    proc(74, 73, 1000, "(sd-pam)"),
]


def test_a_fresh_workspace_runs_no_work() -> None:
    assert work(BASELINE) == []


def test_a_sleep_in_a_closed_terminal_is_work() -> None:
    sleeping = proc(80, 72, 1000, "sleep", "600")
    assert work([*BASELINE, sleeping]) == [sleeping]


def test_a_loop_under_nohup_is_work_even_after_its_shell_is_gone() -> None:
    loop = proc(90, 1, 1000, "python3", "-c", "while True: pass")
    assert work([*BASELINE, loop]) == [loop]


def test_a_shell_at_its_prompt_in_tmux_is_not_work() -> None:
    tmux = [
        proc(100, 1, 1000, "tmux: server (/tmp/tmux-1000/default)"),
        proc(101, 100, 1000, "-bash"),
        proc(102, 100, 1000, "zsh", "-l", "-i"),
    ]
    assert work([*BASELINE, *tmux]) == []


def test_a_shell_running_a_script_or_a_command_is_work() -> None:
    script = proc(110, 72, 1000, "bash", "./build.sh")
    command = proc(111, 72, 1000, "sh", "-c", "make test")
    assert work([*BASELINE, script, command]) == [script, command]


def test_what_code_server_runs_for_itself_is_not_work() -> None:
    server = proc(120, 70, 1000, CODE_SERVER, "/home/dev/.local/share/code-server/extensions/x")
    assert work([*BASELINE, server]) == []


def test_a_command_under_sudo_is_work_though_root_runs_it() -> None:
    sudo = proc(130, 72, 0, "sudo", "make", "install")
    make = proc(131, 130, 0, "make", "install")
    assert work([*BASELINE, sudo, make]) == [make]


def test_system_daemons_are_never_work() -> None:
    cron = proc(140, 1, 0, "/usr/sbin/cron", "-f")
    nobody = proc(141, 1, 65534, "some-daemon")
    assert work([*BASELINE, cron, nobody]) == []


def test_an_editor_or_a_pager_waits_for_a_person_not_for_a_result() -> None:
    editors = [proc(150, 72, 1000, "vim", "notes.md"), proc(151, 72, 1000, "less", "log")]
    assert work([*BASELINE, *editors]) == []


def test_a_loop_in_the_ancestry_does_not_hang_the_check() -> None:
    odd = [proc(160, 161, 0, "a"), proc(161, 160, 0, "b")]
    assert work(odd) == []


def test_the_account_names_the_first_few() -> None:
    many = [proc(200 + i, 1, 1000, "sleep", str(i)) for i in range(5)]
    assert describe(many) == "sleep 0, sleep 1, sleep 2 (and 2 more)"
