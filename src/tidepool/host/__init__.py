"""Preparing a Linux host for Tidepool: packages, daemons, kernel limits, Incus preseed."""
