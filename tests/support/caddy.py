"""A Caddy started for one test session."""

from dataclasses import dataclass

from tidepool.adapters.caddy.config import CaddyOptions
from tidepool.adapters.caddy.process import CaddyProcess


@dataclass
class RunningCaddy:
    process: CaddyProcess
    options: CaddyOptions
    base_url: str
    upstream_port: int
