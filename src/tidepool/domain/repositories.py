"""The repository a workspace starts from: where it is and which branch, checked before it
goes anywhere near git.

Only ``http`` and ``https`` URLs: ``ssh`` needs keys Tidepool does not hold, and ``file``,
``ext::`` and local paths would read the workspace's own disk or run commands. Credentials
never ride in a URL (it is stored, shown and logged); private repositories get theirs from a
credential helper. Both values reach git as environment variables, never as shell text.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from tidepool.errors import InvalidInputError

MAX_URL_LENGTH = 500
#: A branch or tag name git accepts, in the plain subset people use ("": the default one).
BRANCH_RULE = r"^$|^(?!-)(?!/)(?!.*\.\.)(?!.*//)(?!.*\.lock$)(?!.*/$)[A-Za-z0-9._/-]{1,200}$"
_BRANCH = re.compile(BRANCH_RULE)
#: URLs ``repository`` always takes (the API's schema states this one; a few more pass).
REPOSITORY_URL_RULE = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?/[A-Za-z0-9._~-][!-~]*$"
_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HOST = re.compile(r"^[A-Za-z0-9.:-]+$")


@dataclass(frozen=True, slots=True)
class Repository:
    url: str
    #: Empty: the repository's default branch.
    branch: str = ""

    @property
    def folder(self) -> str:
        """The folder in home it is cloned into: the URL's last part, without ``.git``."""
        last = posixpath.basename(urlsplit(self.url).path.rstrip("/"))
        name = last.removesuffix(".git")
        return name if _FOLDER.match(name) and name not in (".", "..") else "project"


def repository(url: str, branch: str = "") -> Repository:
    """A checked ``Repository``; ``InvalidInputError`` saying what is wrong otherwise."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidInputError(
            f"A repository URL is at most {MAX_URL_LENGTH} characters, without spaces."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise InvalidInputError(
            f"Repository URLs start with https:// (or http://), not {parts.scheme or url!r}."
        )
    if "@" in parts.netloc:
        raise InvalidInputError(
            "A repository URL must not hold a user name or password: it is stored and shown. "
            "Private repositories use your git credential (docs/workspaces.md)."
        )
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise InvalidInputError(f"{url!r} has a port that is not a number.") from None
    if not parts.hostname or not _HOST.match(parts.hostname):
        raise InvalidInputError(f"{url!r} names no host a repository could be on.")
    if not parts.path.strip("/"):
        raise InvalidInputError(f"{url!r} names no repository on {parts.hostname}.")
    if branch and not _BRANCH.match(branch):
        raise InvalidInputError(
            f"{branch!r} is not a branch name git takes: letters, digits, '.', '_', '-' and "
            "'/', not starting with '-' or '/', without '..'."
        )
    return Repository(url, branch)
