"""The custodian journal: the cursor takes up each case once, across restarts; local
approvals persist; final states leave the open list."""

from __future__ import annotations

from pathlib import Path

from carchain.custodian.journal import DONE, ENDED, WAITING, WATCHING, CustodianJournal


def test_cases_are_taken_up_once_and_the_cursor_survives_a_restart(tmp_path: Path) -> None:
    j = CustodianJournal(tmp_path / "c.db")
    j.add_cases_and_advance(3)
    j.add_cases_and_advance(3)
    assert j.get_cursor() == 3
    assert [t.case_id for t in j.get_open_tasks(10)] == [1, 2, 3]
    j.set_task_state(2, DONE, "4 shares released", released=4)
    j.set_task_state(3, ENDED, "case closed")
    j.close()
    j = CustodianJournal(tmp_path / "c.db")
    j.add_cases_and_advance(5)
    assert j.get_cursor() == 5
    assert [t.case_id for t in j.get_open_tasks(10)] == [1, 4, 5]
    done = j.get_task_optional(2)
    assert done is not None and (done.state, done.released, done.attempts) == (DONE, 4, 1)
    assert j.count_by_state() == {WATCHING: 3, DONE: 1, ENDED: 1}
    j.close()


def test_the_cursor_never_moves_back(tmp_path: Path) -> None:
    j = CustodianJournal(tmp_path / "c.db")
    j.add_cases_and_advance(4)
    j.add_cases_and_advance(2)  # a lagging node answered an older count
    assert j.get_cursor() == 4
    j.close()


def test_local_approvals_persist_and_count_once(tmp_path: Path) -> None:
    j = CustodianJournal(tmp_path / "c.db")
    j.add_cases_and_advance(2)
    j.set_task_state(1, WAITING, "8 shares wait for local approval")
    assert not j.is_locally_approved(1)
    assert j.approve_locally(1, 1000) is True
    assert j.approve_locally(1, 2000) is False
    assert [t.case_id for t in j.get_tasks_in(WAITING)] == [1]
    j.close()
    j = CustodianJournal(tmp_path / "c.db")
    assert j.is_locally_approved(1) and not j.is_locally_approved(2)
    j.close()
