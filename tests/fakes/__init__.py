"""Stand-ins for programs Tidepool drives that cannot run here (``tart``: only on a Mac)."""
