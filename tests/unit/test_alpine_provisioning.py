"""The Alpine path of the shared provisioning script, run for real against stub system tools.

Alpine cannot boot here, so ``alpine-setup.sh`` runs on this host with stubs of ``apk``,
``rc-update``, ``rc-service``, ``adduser``, ``npm``... first on PATH; each records its call. The
script writes to absolute paths (/etc/init.d, /etc/tidepool, /opt/tidepool), so it runs in a
mount namespace of its own (``unshare --mount``) where /etc is an overlay whose changes land in
a temporary directory and /opt is an empty tmpfs: the host is never touched. The OpenRC service
it writes is then started the way ``openrc-run`` would (source it, ``start_pre``, then
``command``), and the stub code-server records the command line it got.

Also here: every script under images/scripts passes ``shellcheck``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "images" / "scripts"
CODE_SERVER_VERSION = "4.139.1"

STUBS = {
    # Each stub logs "name args..." to $STUB_LOG; some also act a little like the real tool.
    "apk": """
        case " $* " in *" sudo "*) mkdir -p /etc/sudoers.d ;; esac   # what the package brings
    """,
    "rc-update": "",
    "rc-service": "",
    "checkpath": "",
    "chown": "",
    "adduser": """
        for last; do :; done
        echo "$last" >> "$STUB_STATE/users"
    """,
    "id": """
        [ "$1" = -u ] && { echo 0; exit 0; }
        grep -qx "$1" "$STUB_STATE/users" 2>/dev/null && { echo "uid=1000($1)"; exit 0; }
        exit 1
    """,
    "getent": """
        [ "$1" = passwd ] && grep -qx "$2" "$STUB_STATE/users" 2>/dev/null || exit 2
        echo "$2:x:1000:1000::$STUB_HOME:/bin/bash"
    """,
    "node": """
        [ "$1" = --version ] && echo "v${STUB_NODE_VERSION:-24.11.1}"
    """,
    "npm": """
        prefix=
        while [ $# -gt 0 ]; do [ "$1" = --prefix ] && prefix=$2; shift; done
        mkdir -p "$prefix/bin"
        cat > "$prefix/bin/code-server" <<'STUB'
#!/bin/sh
if [ "$1" = --version ]; then echo "4.139.1 0123abcd with Code 1.106.0"; exit 0; fi
{ echo "HOME=$HOME"; echo "PWD=$PWD"; echo "WORKSPACE_NAME=$WORKSPACE_NAME"
  for arg; do echo "ARG=$arg"; done; } > "$STUB_STATE/code-server-run"
STUB
        chmod 755 "$prefix/bin/code-server"
    """,
    # Nothing may reach the network: a download attempt is a failure, recorded.
    "curl": "exit 99",
    "wget": "exit 99",
}

# Starts an OpenRC service file as openrc-run would, minus the supervision: the file defines
# variables and start_pre(); start-stop-daemon then runs $command with that environment.
OPENRC_RUN = """
set -eu
. "$1"
start_pre
"$command"
"""

IN_NAMESPACE = """
set -eu
mount -t tmpfs tmpfs "$OVERLAY"
mkdir "$OVERLAY/upper" "$OVERLAY/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$OVERLAY/upper,workdir=$OVERLAY/work" /etc
mount -t tmpfs tmpfs /opt
status=0
for run in 1 2; do
    sh "$SETUP" > "$OUT/setup-$run.log" 2>&1 || { status=$?; break; }
done
if [ "$status" = 0 ]; then
    printf 'WORKSPACE_NAME=ws-alpine\\n' > /etc/tidepool/workspace.env   # as the runtime writes it
    sh "$OUT/openrc-run" /etc/init.d/code-server > "$OUT/service.log" 2>&1 || status=$?
fi
mkdir -p "$OUT/etc" "$OUT/opt"
cp -a "$OVERLAY/upper/." "$OUT/etc/"
cp -a /opt/. "$OUT/opt/"
exit "$status"
"""


@dataclass
class Provisioned:
    """What one provisioning run left behind."""

    out: Path
    returncode: int

    def text(self, relative: str) -> str:
        return (self.out / relative).read_text()

    def calls(self) -> list[list[str]]:
        log = self.out / "calls.log"
        return [shlex.split(line) for line in log.read_text().splitlines()] if log.exists() else []

    def calls_to(self, tool: str) -> list[list[str]]:
        return [call[1:] for call in self.calls() if call[0] == tool]


def provision(tmp_path: Path, **env: str) -> Provisioned:
    assert shutil.which("unshare"), "unshare (util-linux) is needed to isolate the script"
    out = tmp_path / "out"
    stubs = tmp_path / "stubs"
    state = tmp_path / "stub-state"
    home = tmp_path / "home" / "dev"
    for directory in (out, stubs, state, tmp_path / "overlay"):
        directory.mkdir(parents=True)
    for name, body in STUBS.items():
        stub = stubs / name
        stub.write_text(
            "#!/bin/sh\n"
            'printf "%s" "' + name + '" >> "$STUB_LOG"\n'
            'for arg; do printf " %s" "$(printf "%s" "$arg" | sed "s/[^A-Za-z0-9_./:=@-]/_/g")" '
            '>> "$STUB_LOG"; done\n'
            'echo >> "$STUB_LOG"\n' + body + "\nexit 0\n"
        )
        stub.chmod(0o755)
    (out / "openrc-run").write_text(OPENRC_RUN)
    run_env = {
        "PATH": f"{stubs}:/usr/sbin:/usr/bin:/sbin:/bin",
        "STUB_LOG": str(out / "calls.log"),
        "STUB_STATE": str(state),
        "STUB_HOME": str(home),
        "OVERLAY": str(tmp_path / "overlay"),
        "OUT": str(out),
        "SETUP": str(SCRIPTS / "alpine-setup.sh"),
        "NPM_REGISTRY": "http://127.0.0.1:9/npm",  # handed to the npm stub, never contacted
        **env,
    }
    completed = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_NAMESPACE],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Provisioned(out=out, returncode=completed.returncode)


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Provisioned:
    result = provision(tmp_path_factory.mktemp("alpine"))
    logs = "".join(f"--- {log.name}\n{log.read_text()}" for log in sorted(result.out.glob("*.log")))
    assert result.returncode == 0, logs
    return result


def test_packages_come_from_apk_with_nodejs_for_the_npm_install(provisioned: Provisioned) -> None:
    apk = provisioned.calls_to("apk")
    assert ["update"] in apk
    added = {package for call in apk if call[:2] == ["add", "--no-cache"] for package in call[2:]}
    assert {
        "bash",
        "curl",
        "wget",
        "jq",
        "git",
        "openssh",
        "make",
        "python3",
        "nodejs",
        "npm",
    } <= added
    assert not provisioned.calls_to("curl") and not provisioned.calls_to("wget")


def test_code_server_comes_from_npm_into_the_prefix(provisioned: Provisioned) -> None:
    (install,) = provisioned.calls_to("npm")
    assert f"code-server@{CODE_SERVER_VERSION}" in install
    assert install[install.index("--prefix") + 1] == "/opt/tidepool/code-server"
    assert os.access(provisioned.out / "opt/tidepool/code-server/bin/code-server", os.X_OK)


def test_the_workspace_user_is_created_once(provisioned: Provisioned) -> None:
    # Two runs of the script, one adduser: every step checks what is there first.
    assert provisioned.calls_to("adduser") == [["-D", "-s", "/bin/bash", "-u", "1000", "dev"]]
    assert provisioned.text("etc/sudoers.d/90-tidepool") == "dev ALL=(ALL) NOPASSWD:ALL\n"


def test_the_openrc_service_file(provisioned: Provisioned) -> None:
    service = provisioned.text("etc/init.d/code-server")
    lines = service.splitlines()
    assert lines[0] == "#!/sbin/openrc-run"
    assert 'command="/opt/tidepool/code-server-launch"' in lines
    assert 'command_user="dev:dev"' in lines
    assert "command_background=true" in lines
    assert 'pidfile="/run/code-server.pid"' in lines
    assert 'output_log="/var/log/code-server.log"' in lines
    assert "    need net" in lines
    assert (provisioned.out / "etc/init.d/code-server").stat().st_mode & 0o777 == 0o755
    # Enabled at boot, and (re)started by the first run and the second.
    assert provisioned.calls_to("rc-update") == [["add", "code-server", "default"]] * 2
    assert provisioned.calls_to("rc-service") == [["code-server", "restart"]] * 2


def test_the_service_starts_code_server_with_its_command_line(provisioned: Provisioned) -> None:
    recorded = (provisioned.out.parent / "stub-state" / "code-server-run").read_text().splitlines()
    home = str(provisioned.out.parent / "home" / "dev")
    assert recorded[:3] == [f"HOME={home}", f"PWD={home}", "WORKSPACE_NAME=ws-alpine"]
    assert [line.removeprefix("ARG=") for line in recorded[3:]] == [
        "--bind-addr",
        "0.0.0.0:8080",
        "--auth",
        "none",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--app-name",
        "ws-alpine",
        home,
    ]
    # The log file is made the user's before start-stop-daemon opens it as that user.
    assert ["--file", "--owner", "dev:dev", "--mode", "0640", "/var/log/code-server.log"] in (
        provisioned.calls_to("checkpath")
    )


def test_settings_turn_telemetry_and_update_checks_off(provisioned: Provisioned) -> None:
    settings = provisioned.out.parent / "home/dev/.local/share/code-server/User/settings.json"
    text = settings.read_text()
    assert '"telemetry.telemetryLevel": "off"' in text
    assert '"update.mode": "none"' in text
    assert provisioned.text("etc/tidepool/workspace.env") == "WORKSPACE_NAME=ws-alpine\n"


def test_a_node_major_code_server_cannot_use_fails_before_npm(tmp_path: Path) -> None:
    result = provision(tmp_path, STUB_NODE_VERSION="22.15.1")
    assert result.returncode != 0
    assert "needs Node.js 24 but this Alpine release has v22.15.1" in result.text("setup-1.log")
    assert result.calls_to("npm") == []


def test_alpine_setup_needs_the_shared_script(tmp_path: Path) -> None:
    lonely = tmp_path / "alpine-setup.sh"
    shutil.copy(SCRIPTS / "alpine-setup.sh", lonely)
    completed = subprocess.run(
        ["sh", str(lonely)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 1
    assert "workspace-setup.sh not found" in completed.stderr


def test_every_provisioning_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: apt-get install -y shellcheck"
    scripts = sorted(path for path in SCRIPTS.iterdir() if path.is_file())
    assert {path.name for path in scripts} >= {"workspace-setup.sh", "alpine-setup.sh"}
    completed = subprocess.run(
        [shellcheck, "--shell=sh", "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
