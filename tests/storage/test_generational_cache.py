"""The generational cache: bounded, drops the older half, keeps what is used."""

from __future__ import annotations

import pytest

from carchain.storage.generational_cache import GenerationalCache


def test_an_entry_used_since_the_last_rollover_survives_the_next() -> None:
    cache: GenerationalCache[str, int] = GenerationalCache(4)
    cache.put("a", 1)
    cache.put("b", 2)  # the young half is full: it becomes the old one
    assert cache.get("a") == 1  # a hit in the old half moves it back to the young
    cache.put("c", 3)  # full again: {"a", "c"} become old, "b" is dropped
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3


def test_never_holds_more_than_its_limit() -> None:
    cache: GenerationalCache[int, int] = GenerationalCache(10)
    for i in range(1_000):
        cache.put(i, i)
        assert len(cache) <= 10
    assert cache.get(999) == 999
    assert cache.get(0) is None


def test_a_newer_value_hides_the_older_generation_s_copy() -> None:
    cache: GenerationalCache[str, int] = GenerationalCache(4)
    cache.put("a", 1)
    cache.put("b", 2)  # old: {"a": 1, "b": 2}
    cache.put("a", 9)
    assert cache.get("a") == 9
    cache.update([("x", 0), ("y", 0), ("z", 0)])
    assert cache.get("a") in (9, None)


def test_discard_and_clear_forget_both_generations() -> None:
    cache: GenerationalCache[str, int] = GenerationalCache(4)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 3)
    cache.discard("a")
    assert "a" not in cache and cache.get("a") is None
    assert "b" in cache
    cache.clear()
    assert len(cache) == 0 and cache.get("b") is None


@pytest.mark.parametrize("limit", [-1, 0, 1])
def test_a_limit_below_two_is_refused(limit: int) -> None:
    with pytest.raises(ValueError):
        GenerationalCache(limit)
