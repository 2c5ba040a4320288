"""Adapters: the code that talks to Incus, Tart and Caddy on the ports' behalf."""
