"""Incus: workspaces as system containers (or VMs), driven through the REST API."""
