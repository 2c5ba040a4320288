"""The store: workspaces, their event log and the job outbox in SQLite or PostgreSQL.

``tables`` defines the schema, ``migrations`` builds it (``migrate.upgrade``; never
``create_all``, so a database made by the tests is the one a release upgrades), ``sql`` holds the
``WorkspaceStore`` and ``JobQueue`` adapters over SQLAlchemy's asyncio engine, and ``memory``
holds their in-memory twins for unit tests. The contract suite in ``tests/contract`` runs the
same tests over all of them so the twins cannot drift apart.
"""
