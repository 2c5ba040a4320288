"""Who may see and act on a workspace is decided in the service, for every caller alike."""

from __future__ import annotations

import pytest

from tidepool.domain.identity import HOST, Identity
from tidepool.domain.workspace import Action, Desired
from tidepool.errors import NotFoundError
from tidepool.services.workspaces import WorkspaceService
from tidepool.store.memory import memory_store

ANN, BOB = Identity("ann", admin=False), Identity("bob", admin=False)
ADMIN = Identity("root", admin=True)


@pytest.fixture
def service() -> WorkspaceService:
    return WorkspaceService(memory_store()[0], default_image="img")


async def test_someone_elses_workspace_answers_as_a_missing_one(service: WorkspaceService) -> None:
    created = await service.create("anns", who=ANN)
    assert created.owner == "ann"
    with pytest.raises(NotFoundError) as hidden:
        await service.get("anns", who=BOB)
    with pytest.raises(NotFoundError) as missing:
        await service.get("nobody", who=BOB)
    assert str(hidden.value) == str(missing.value).replace("nobody", "anns")
    for action in Action:
        with pytest.raises(NotFoundError):
            await service.request("anns", action, who=BOB)
    assert (await service.get("anns", who=ANN)).desired is Desired.RUNNING, "nothing changed"
    assert await service.name_if_visible(created.id, who=BOB) is None
    assert await service.name_if_visible(created.id, who=ANN) == "anns"


async def test_lists_hold_what_each_may_see_and_admins_see_all(service: WorkspaceService) -> None:
    await service.create("anns", who=ANN)
    await service.create("bobs", who=BOB)
    names = {
        who.name: [w.name for w in (await service.list(who=who)).items]
        for who in (ANN, BOB, ADMIN, HOST)
    }
    assert names == {
        "ann": ["anns"],
        "bob": ["bobs"],
        "root": ["anns", "bobs"],
        "local": ["anns", "bobs"],
    }
    stopped = await service.request("bobs", Action.STOP, who=ADMIN)
    assert stopped.desired is Desired.STOPPED
