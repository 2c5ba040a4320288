"""The SSH key pair that Tidepool's Alpine image trusts, kept in the Tart runtime's state.

The Alpine image has no Tart Guest Agent, so ``TartRuntime`` runs commands in it over SSH as
root (``guest.py``). The image must therefore trust a key that the runtime holds. Both sides
find that key in one place, the runtime's state directory: ``tidepool image build --runtime
tart`` creates the pair there if it is missing and gives the public half to Packer, and
``TartRuntime`` offers the private half to ``ssh``. Nothing is read from or written to the
user's ``~/.ssh``, and the user is never asked for a key.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tidepool.errors import RuntimeOperationError, RuntimeUnavailableError

#: The private key's file name in the state directory (its public half adds ``.pub``). A
#: workspace's VM directory can never have this name: ``_`` is not allowed in a workspace name.
KEY_FILE = "id_ed25519"
#: Key types an OpenSSH ``authorized_keys`` line may start with, for checking what we hand on.
_KEY_TYPES = ("ssh-ed25519 ", "ecdsa-sha2-", "ssh-rsa ", "sk-ssh-ed25519@openssh.com ")


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A key pair on disk, and whether this call created it."""

    private: Path
    public_key: str
    created: bool


def key_path(state_dir: Path) -> Path:
    """Where the private key lives for a runtime whose state is in ``state_dir``."""
    return state_dir / KEY_FILE


def public_path(private: Path) -> Path:
    return private.with_name(private.name + ".pub")


def ensure_key_pair(
    private: Path, *, ssh_keygen: str = "ssh-keygen", comment: str = "tidepool"
) -> KeyPair:
    """Return the key pair at ``private``, creating it (ed25519, no passphrase) if missing.

    The private key is left with mode 0600 (and its directory 0700): ``ssh`` refuses a
    private key that others can read. A missing public half is derived from the private key
    again, so deleting the ``.pub`` file never changes the key the image trusts.
    """
    public = public_path(private)
    created = False
    if not private.exists():
        private.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        public.unlink(missing_ok=True)  # a stale half would not match the new key
        _keygen([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(private)])
        created = True
    if stat.S_IMODE(private.stat().st_mode) & 0o077:
        os.chmod(private, 0o600)
    if not public.exists():
        public.write_text(_keygen([ssh_keygen, "-y", "-f", str(private)]).strip() + "\n")
    public_key = public.read_text().strip()
    if not public_key.startswith(_KEY_TYPES):
        raise RuntimeOperationError(
            f"{public} does not hold an SSH public key; delete {private} and {public} to make "
            "a new pair (then rebuild the image)."
        )
    return KeyPair(private=private, public_key=public_key, created=created)


def _keygen(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        raise RuntimeUnavailableError(
            f"{argv[0]!r} is not installed; it makes the key Tidepool reaches Tart VMs with "
            "(it ships with macOS and with every OpenSSH client)."
        )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeOperationError(
            f"`{' '.join(argv)}` failed (exit {done.returncode}): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout
