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

#: Runs the step script ``$1`` with its output going to the file ``$TIDEPOOL_LOG`` (emptied
#: first), which Tidepool reads while the step runs; the step's exit status is this one's.
STREAMED = """mkdir -p -- "${TIDEPOOL_LOG%/*}" && : > "$TIDEPOOL_LOG" || exit 125
exec sh -c "$1" tidepool-step >> "$TIDEPOOL_LOG" 2>&1 < /dev/null
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

#: Clones the repository into its folder in home, once (the marker is in home). The first
#: contact is bounded (``CONTACT_SECONDS``); the clone goes to a scratch folder and is moved
#: into the folder the IDE has open, which must hold nothing else.
CLONE = (
    _CONTACT
    + """set -e
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
    + """set -e
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
