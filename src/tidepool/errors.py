"""Every error Tidepool raises on purpose, in one tree.

::

    TidepoolError
    ├── InvalidInputError        bad input, refused before it reaches Incus, Caddy or a shell
    ├── NotFoundError            the thing asked for does not exist
    ├── ForbiddenError           the caller is known but its credential does not allow this
    ├── ConflictError            the thing exists already, or its state forbids the action
    │   └── StaleWriteError      a write based on a copy someone else changed first
    ├── HostSetupError           the host cannot be prepared (not root, not Linux, apt failed)
    ├── ImageBuildError          the workspace image could not be built
    ├── RuntimeUnavailableError  the runtime daemon or CLI cannot be reached
    ├── RuntimeOperationError    the runtime was reached but refused or failed an operation
    ├── ProxyError               Caddy could not be started, reached or configured
    └── TimeoutExpiredError      something did not happen in the time allowed

Adapters map the failures of the systems they wrap onto these at the edge, so the layers above
never see an ``httpx`` or ``subprocess`` exception.
"""

from __future__ import annotations


class TidepoolError(Exception):
    """Base of every error Tidepool raises deliberately; its message is meant for a person."""


class InvalidInputError(TidepoolError):
    """Input broke a rule (a name, an address, a port); nothing was changed."""


class NotFoundError(TidepoolError):
    """The workspace, instance, route or image does not exist."""


class ForbiddenError(TidepoolError):
    """The caller may see the thing but not do this to it (a read-only token asked to stop a
    workspace, a plain user asked for the audit log); nothing was changed."""


class ConflictError(TidepoolError):
    """The thing exists already, or its current state does not allow the action."""


class StaleWriteError(ConflictError):
    """Someone else wrote the workspace after this copy was read: read it again and retry."""


class HostSetupError(TidepoolError):
    """The host cannot be prepared for Tidepool."""


class ImageBuildError(TidepoolError):
    """The workspace image could not be built."""


class RuntimeUnavailableError(TidepoolError):
    """The runtime (incusd, the tart CLI) cannot be reached at all."""


class RuntimeOperationError(TidepoolError):
    """The runtime was reached but an operation failed; the message quotes the runtime."""


class RuntimeReadError(RuntimeOperationError):
    """The runtime failed to answer a read (incusd's 5xx on a GET, as just after it
    restarted): reading again is always safe, so it is tried again a few times."""


class StorageFullError(RuntimeOperationError):
    """The runtime's storage pool has no space left: nothing new can be made until space is
    freed. Trying again at once cannot help, so the workspace fails with this message, and
    starting it again after space is freed goes on where it stopped."""


class ProxyError(TidepoolError):
    """Caddy could not be started, reached or configured."""


class TimeoutExpiredError(TidepoolError):
    """Something Tidepool waited for did not happen in time."""
