"""The shell scripts a workspace's setup runs inside it.

Every value they use (URLs, branches, folders, paths) reaches them as an environment variable
or an argument, never as shell text, so nothing a user typed is ever parsed by a shell. Each
script is idempotent: a marker says what is done, and a step cut short by a crash leaves only
a scratch folder, cleared first.
"""

from __future__ import annotations

#: How long the first contact with a repository's host may take: a host that does not answer
#: fails here, not after the kernel's two minutes of connection attempts.
CONTACT_SECONDS = 20
#: A transfer slower than this many bytes a second for ``STALL_SECONDS`` is given up.
STALL_BYTES_PER_SECOND = 1000
STALL_SECONDS = 60

#: Makes the folder the IDE opens on, before the workspace is routed: the clone, which runs
#: behind the IDE, fills it. An empty folder left by an earlier try is the same folder.
PREPARE_FOLDER = """mkdir -p -- "$HOME/$TIDEPOOL_FOLDER" """

#: Runs the step script ``$1`` (with the arguments after it) with its output going to the file
#: ``$TIDEPOOL_LOG`` (emptied first), which Tidepool reads while the step runs; the step's
#: exit status is this one's.
STREAMED = """mkdir -p -- "${TIDEPOOL_LOG%/*}" && : > "$TIDEPOOL_LOG" || exit 125
script=$1
shift
exec sh -c "$script" tidepool-step "$@" >> "$TIDEPOOL_LOG" 2>&1 < /dev/null
"""

#: Prints at most ``$2`` bytes of ``$TIDEPOOL_LOG`` from byte ``$1`` (counted from 1), in
#: base64: the bytes exactly as they are, a character cut in two at the end included.
READ_LOG = """tail -c "+$1" -- "$TIDEPOOL_LOG" 2>/dev/null | head -c "$2" | base64 -w 0"""

#: ``contact URL``: asks the host for the repository's branches, for at most
#: ``$TIDEPOOL_CONTACT_SECONDS``; says so when the host did not answer. Shared by the scripts
#: that clone.
_CONTACT = """contact() {
    echo "Asking $1 for its branches ($TIDEPOOL_CONTACT_SECONDS s to answer)"
    status=0
    timeout "$TIDEPOOL_CONTACT_SECONDS" git ls-remote -- "$1" HEAD > /dev/null || status=$?
    if [ "$status" -eq 124 ]; then
        echo "The host did not answer within $TIDEPOOL_CONTACT_SECONDS s."
    fi
    return "$status"
}
"""

#: ``one_at_a_time NAME``: waits for an earlier run of the same step to end. A ``serve`` that
#: dies leaves its steps running in the workspace, and the next one starts them again.
_ONE_AT_A_TIME = """one_at_a_time() {
    mkdir -p -- "$HOME/.tidepool"
    exec 9> "$HOME/.tidepool/$1.lock"
    if ! flock -n 9; then
        echo "An earlier $1 still runs: waiting for it to end."
        flock 9
    fi
}
"""

#: Clones the repository into its folder in home, once (the marker is in home). The first
#: contact is bounded (``CONTACT_SECONDS``); the clone goes to a scratch folder and is moved
#: into the folder the IDE has open, which must hold nothing else.
CLONE = (
    _CONTACT
    + _ONE_AT_A_TIME
    + """set -e
one_at_a_time clone
marker="$HOME/.tidepool/cloned"
if [ -e "$marker" ]; then echo "Cloned at an earlier boot."; exit 0; fi
target="$HOME/$TIDEPOOL_FOLDER"
mkdir -p -- "$target"
if [ -n "$(ls -A -- "$target")" ]; then
    echo "$target has files in it already: not cloning over them."; exit 1
fi
scratch="$HOME/.tidepool/clone"
rm -rf -- "$scratch"
contact "$TIDEPOOL_REPOSITORY"
echo "Cloning $TIDEPOOL_REPOSITORY${TIDEPOOL_BRANCH:+ (branch $TIDEPOOL_BRANCH)} into $target"
git clone --progress ${TIDEPOOL_BRANCH:+--branch "$TIDEPOOL_BRANCH"} -- \\
    "$TIDEPOOL_REPOSITORY" "$scratch"
for entry in "$scratch"/* "$scratch"/.[!.]* "$scratch"/..?*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    mv -n -- "$entry" "$target/"
done
rmdir -- "$scratch"
touch -- "$marker"
echo "Cloned into $target."
"""
)

#: Clones the dotfiles into ``~/.dotfiles`` and installs them, once: the first conventional
#: install script that exists runs, as the user; without one, every dotfile is linked into
#: home (a file already there is kept beside it as ``NAME.before-dotfiles``).
DOTFILES = (
    _CONTACT
    + _ONE_AT_A_TIME
    + """set -e
one_at_a_time dotfiles
marker="$HOME/.tidepool/dotfiles-installed"
if [ -e "$marker" ]; then echo "Dotfiles installed at an earlier boot."; exit 0; fi
mkdir -p -- "$HOME/.tidepool"
target="$HOME/.dotfiles"
if [ ! -d "$target" ]; then
    scratch="$HOME/.tidepool/dotfiles"
    rm -rf -- "$scratch"
    contact "$TIDEPOOL_DOTFILES"
    echo "Cloning $TIDEPOOL_DOTFILES into $target"
    git clone --progress ${TIDEPOOL_BRANCH:+--branch "$TIDEPOOL_BRANCH"} -- \\
        "$TIDEPOOL_DOTFILES" "$scratch"
    mv -- "$scratch" "$target"
fi
cd -- "$target"
for script in install.sh install bootstrap.sh bootstrap script/bootstrap setup.sh setup \\
        script/setup; do
    if [ -f "$script" ]; then
        echo "Running $script"
        chmod +x -- "$script"
        "./$script"
        touch -- "$marker"
        echo "Dotfiles installed by $script."
        exit 0
    fi
done
echo "No install script: linking the dotfiles into $HOME"
for file in .[!.]* ..?* *; do
    [ -e "$file" ] || continue
    case "$file" in .git|.gitignore|.gitmodules|README*|LICENSE*) continue ;; esac
    if [ -e "$HOME/$file" ] && [ ! -L "$HOME/$file" ]; then
        mv -- "$HOME/$file" "$HOME/$file.before-dotfiles"
    fi
    ln -sfn -- "$target/$file" "$HOME/$file"
    echo "linked ~/$file"
done
touch -- "$marker"
"""
)

#: Where the owner's git credentials are written in a workspace (``/run``: memory, gone at
#: stop), readable by its user only.
CREDENTIALS_PATH = "/run/tidepool/git-credentials"

#: Runs as root: git (in every repository) reads the owner's credentials from
#: ``CREDENTIALS_PATH`` through its ``store`` helper, which is only ever asked to ``get``: a
#: ``store`` would try to write next to the file, and an ``erase`` (after a host refused the
#: credential once) would delete it until the next start.
CREDENTIAL_HELPER = (
    'git config --system credential.helper \'!f() { if [ "$1" = get ]; then exec git '
    f"credential-store --file={CREDENTIALS_PATH} get; fi; }}; f'"
)

#: Prints the path of the repository's dev container file, a line break, then the file.
READ_DEVCONTAINER = """cd -- "$HOME/$TIDEPOOL_FOLDER" 2>/dev/null || exit 3
for file in .devcontainer/devcontainer.json .devcontainer.json; do
    if [ -f "$file" ]; then echo "$file"; exec head -c 300000 -- "$file"; fi
done
exit 3
"""
#: ``READ_DEVCONTAINER``'s exit status when the repository has no dev container file.
NO_DEVCONTAINER = 3

#: Prints, in base64, the user's login-shell environment (``env -0``), a NUL, then what
#: Tidepool told the workspace of itself (``/etc/tidepool/workspace.env``).
READ_ENVIRONMENTS = """{ env -i HOME="$HOME" USER="$USER" sh -lc 'env -0'; printf '\\0';
  cat /etc/tidepool/workspace.env 2>/dev/null; } | base64 -w 0"""

#: Where a dev container's environment is written in a workspace, and read from.
ENVIRONMENT_FILE = "/etc/tidepool/environment.env"
ENVIRONMENT_PROFILE = "/etc/profile.d/tidepool-environment.sh"

#: Runs as root: interactive shells (the IDE's terminals: ``/etc/bash.bashrc``) read the
#: environment's profile script, and code-server reads its file from its next start on.
APPLY_ENVIRONMENT = f"""set -e
hook='[ -r {ENVIRONMENT_PROFILE} ] && . {ENVIRONMENT_PROFILE}  # Tidepool: the dev container'
if [ -f /etc/bash.bashrc ] && ! grep -qF "$hook" /etc/bash.bashrc; then
    printf '%s\\n' "$hook" >> /etc/bash.bashrc
fi
if [ -d /etc/systemd/system ]; then
    mkdir -p /etc/systemd/system/code-server.service.d
    printf '[Service]\\nEnvironmentFile=-%s\\n' {ENVIRONMENT_FILE} \\
        > /etc/systemd/system/code-server.service.d/tidepool-environment.conf
    systemctl daemon-reload 2>/dev/null || true
fi
"""

#: Runs a lifecycle command (``$@``) as the user in the repository's folder.
IN_FOLDER = """cd -- "$HOME/$TIDEPOOL_FOLDER" 2>/dev/null || cd
exec "$@"
"""

#: A marker in home: the creation commands ran (once per workspace).
CREATED_MARKER = ".tidepool/devcontainer-created"

#: 0 when the creation commands ran already; else records that they run now.
CREATED_ALREADY = """test -e "$HOME/$TIDEPOOL_MARKER" """
MARK_CREATED = """mkdir -p -- "$HOME/.tidepool" && touch -- "$HOME/$TIDEPOOL_MARKER" """

#: Installs one extension (a marketplace id, or a ``.vsix`` path in the repository).
CODE_SERVER = "/opt/tidepool/code-server/bin/code-server"
INSTALL_EXTENSION = f"""cd -- "$HOME/$TIDEPOOL_FOLDER" 2>/dev/null || cd
case "$TIDEPOOL_EXTENSION" in
    *.vsix) set -- "$PWD/$TIDEPOOL_EXTENSION" ;;
    *) set -- "$TIDEPOOL_EXTENSION" ;;
esac
echo "Installing $1"
PATH=/opt/tidepool/node/bin:$PATH exec {CODE_SERVER} --install-extension "$1"
"""

#: Where the dev container's IDE settings go: code-server's machine settings, which the
#: user's own settings override.
MACHINE_SETTINGS = ".local/share/code-server/Machine/settings.json"
READ_SETTINGS = f"""cat -- "$HOME/{MACHINE_SETTINGS}" 2>/dev/null || true"""
