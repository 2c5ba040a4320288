"""Pure rules of Tidepool: no I/O, no imports from the rest of the package."""
