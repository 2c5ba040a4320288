"""Caddy: the front door. Routes ``/workspace/{name}/`` to each workspace's code-server."""
