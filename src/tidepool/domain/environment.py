"""The workspace's environment file: how a runtime tells an instance who it is.

Every runtime (Incus, Tart, the in-memory fake) writes the same file before code-server
starts, with the same rules, so they live here rather than in one adapter.
"""

from __future__ import annotations

from collections.abc import Mapping

from tidepool.errors import InvalidInputError

#: Read by the code-server service inside every workspace image.
WORKSPACE_ENV_PATH = "/etc/tidepool/workspace.env"
#: Where an Incus image that renders the file itself finds its text: an instance config key,
#: which the image's template writes to ``WORKSPACE_ENV_PATH`` at the first start. Pushing
#: the file into the stopped instance instead cost that start about a second.
ENVIRONMENT_CONFIG_KEY = "user.tidepool.environment"
#: The image property that says an image has that template (images from revision 2).
ENVIRONMENT_TEMPLATE_PROPERTY = "tidepool.environment_template"
#: The template: the key's text as it is (``safe``: no HTML escaping of ``&`` or ``<``),
#: and the last line's newline, which a config value does not keep (``config_text``).
ENVIRONMENT_TEMPLATE = f'{{{{ config_get("{ENVIRONMENT_CONFIG_KEY}", "")|safe }}}}\n'


def render_env_file(environment: Mapping[str, str]) -> bytes:
    """Render ``KEY=value`` lines that both systemd's EnvironmentFile and sh can read.

    Keys and values are checked: a newline or quote could otherwise smuggle a second setting.
    """
    lines = []
    for key, value in sorted(environment.items()):
        if not key.isidentifier() or not key.isupper():
            raise InvalidInputError(f"Environment key {key!r} must be an upper-case identifier.")
        if any(ch in value for ch in "\n\r\"'\\$`"):
            raise InvalidInputError(f"Environment value for {key} contains a forbidden character.")
        lines.append(f"{key}={value}\n")
    return "".join(lines).encode()


def config_text(env_file: bytes) -> str:
    """``render_env_file``'s lines as ``ENVIRONMENT_CONFIG_KEY``'s value: Incus drops a
    value's final newline, so the template adds it back."""
    return env_file.decode().removesuffix("\n")
