"""Tidepool: self-hosted cloud development workspaces.

A browser opens ``/workspace/{name}/`` on a Caddy front door and lands in code-server running
inside an isolated machine (an Incus container on Linux, a Tart VM on macOS).
"""

__version__ = "0.1.0"
