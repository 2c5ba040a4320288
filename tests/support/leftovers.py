"""The instances a test's ``serve`` made, deleted after the test whatever it left.

No ``serve`` deletes another installation's instances any more (``domain.ownership``), so a
test that stops its ``serve`` before a delete finished would leave a running workspace for
the rest of the suite. Each test ``serve`` is an installation of its own (its data
directory's id): after each test, every instance and home volume that records one of those
ids goes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tidepool.adapters.incus.runtime import INSTALLATION_KEY

#: Tidepool's storage pool, where home volumes are.
POOL = "tidepool"
#: Data directories of the ``serve`` processes started during the current test.
STARTED: list[Path] = []


def delete_what_they_made() -> list[str]:
    """Delete every instance made by an installation in ``STARTED``; returns their names."""
    started = list(STARTED)
    STARTED.clear()
    return delete_made_by(started)


def delete_made_by(data_dirs: list[Path]) -> list[str]:
    """Delete every instance made by the installations of ``data_dirs``; their names."""
    ids = set()
    for data_dir in data_dirs:
        path = data_dir / "installation-id"
        if path.exists():
            ids.add(path.read_text().strip())
    incus = shutil.which("incus")
    if not ids or incus is None:
        return []
    listed = subprocess.run(
        [incus, "list", "--format", "json"], capture_output=True, text=True, timeout=60
    )
    if listed.returncode != 0:
        return []
    names = [
        item["name"]
        for item in json.loads(listed.stdout)
        if (item.get("config") or {}).get(INSTALLATION_KEY) in ids
    ]
    for name in names:
        subprocess.run([incus, "delete", "--force", name], capture_output=True, timeout=120)
    return names + _delete_volumes(incus, ids)


def _delete_volumes(incus: str, ids: set[str]) -> list[str]:
    """The home volumes they made: a delete keeps one, with its snapshot, for undelete."""
    listed = subprocess.run(
        [incus, "storage", "volume", "list", POOL, "type=custom", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if listed.returncode != 0:
        return []
    names = [
        item["name"]
        for item in json.loads(listed.stdout)
        if (item.get("config") or {}).get(INSTALLATION_KEY) in ids and "/" not in item["name"]
    ]
    for name in names:
        subprocess.run(
            [incus, "storage", "volume", "delete", POOL, name], capture_output=True, timeout=120
        )
    return names
