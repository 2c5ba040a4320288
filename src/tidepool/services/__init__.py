"""Use cases: what Tidepool does, written against the ports only."""
