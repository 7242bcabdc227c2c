"""The access log: events appended per vehicle (and pointed to per OEM), read newest first
in pages whose cost does not depend on the log's length; bad page arguments are typed."""

from __future__ import annotations

import pytest

from carchain.core import access_log
from carchain.errors import InvalidBody
from tests.core.memory import CoreChain, core_chain  # noqa: F401
from tests.core.sharing import genesis, grant_body, request_body, setup_world  # noqa: F401


@pytest.fixture
def world(chain: CoreChain) -> CoreChain:
    return setup_world(chain)


def test_pages_newest_first_and_the_oem_log(world: CoreChain) -> None:
    world.send("owner-a", grant_body("saic:1"))
    world.send("bosch", request_body("saic:1"))
    world.send("owner-b", grant_body("geely:1"))
    view = world.state
    assert [e.seq for e in access_log.get_access_log_page(view, "saic:1")] == [2, 1, 0]
    assert [e.seq for e in access_log.get_access_log_page(view, "saic:1", before=2, limit=1)] == [1]
    assert access_log.get_access_log_page(view, "saic:1", before=0) == []
    oem = access_log.get_oem_access_log_page(view, "saic")
    assert [(n, e.vehicle_id, e.kind) for n, e in oem] == [
        (2, "saic:1", "approved"),
        (1, "saic:1", "request"),
        (0, "saic:1", "grant"),
    ]
    assert [e.vehicle_id for _, e in access_log.get_oem_access_log_page(view, "geely")] == [
        "geely:1"
    ]


@pytest.mark.parametrize(("before", "limit"), [(None, 0), (None, 101), (-1, 10), (None, -5)])
def test_invalid_page_arguments_are_typed(world: CoreChain, before: int | None, limit: int) -> None:
    world.send("owner-a", grant_body("saic:1"))
    with pytest.raises(InvalidBody):
        access_log.get_access_log_page(world.state, "saic:1", before, limit)
    with pytest.raises(InvalidBody):
        access_log.get_oem_access_log_page(world.state, "saic", before, limit)
