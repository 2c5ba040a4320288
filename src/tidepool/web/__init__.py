"""The web app at ``/app/``: static files, no build step, talking to ``/api``."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
