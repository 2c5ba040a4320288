"""The chaos tier meets the end-to-end tier's real Chromium (the web app shows faults)."""

from e2e.conftest import artifacts, browser

__all__ = ["artifacts", "browser"]
