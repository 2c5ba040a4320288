"""The security tier plays attackers with the end-to-end tier's real Chromium."""

from e2e.conftest import artifacts, browser

__all__ = ["artifacts", "browser"]
