"""In-memory fakes of the ports, for unit tests; ``tests/contract`` keeps them honest."""
