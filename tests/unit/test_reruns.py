"""A notebook cell run again makes its group again: the re-run registry the group drivers share
(``ConsumerGroup``, ``ShareGroup``, ``Kip848Group``) closes the group the first run made under the same
key, leaves the others open, closes every group still open at exit, and holds none alive."""

from __future__ import annotations

import gc
import weakref

from labkit.group.members import Reruns


class Group:
    def __init__(self, fails: bool = False) -> None:
        self.closed, self.fails, self.timeouts = False, fails, []

    def close(self, timeout_s: float = 10.0) -> None:
        self.timeouts.append(timeout_s)
        self.closed = True
        if self.fails:
            raise RuntimeError("its broker is gone")


def test_a_group_made_again_under_the_same_key_closes_the_first_and_only_that_one():
    reruns, seen = Reruns(), []
    first, other = Group(), Group()
    reruns.opened(first, ("broker:9092", "orders-group"))
    reruns.opened(other, ("broker:9092", "another-group"))
    second = Group()
    reruns.opened(second, ("broker:9092", "orders-group"), on_replace=seen.append)
    assert first.closed and seen == [first]  # told before it is closed (a group logs what it closes)
    assert not other.closed and not second.closed


def test_a_first_group_closed_already_is_not_closed_again():
    reruns, seen = Reruns(), []
    first = Group()
    reruns.opened(first, ("b", "g"))
    first.close()
    reruns.opened(Group(), ("b", "g"), on_replace=seen.append)
    assert first.timeouts == [10.0] and seen == []


def test_at_exit_every_group_still_open_is_closed_even_past_one_that_fails():
    reruns = Reruns()
    failing, open_one, closed_one = Group(fails=True), Group(), Group()
    for n, group in enumerate([failing, open_one, closed_one]):
        reruns.opened(group, ("b", f"g{n}"))
    closed_one.close()
    reruns.closed(closed_one)
    reruns.close_all()
    assert failing.timeouts == [5] and open_one.timeouts == [5] and closed_one.timeouts == [10.0]


def test_a_group_dropped_by_the_notebook_is_not_kept_alive():
    reruns = Reruns()
    group = Group()
    reruns.opened(group, ("b", "g"))
    ref = weakref.ref(group)
    del group
    gc.collect()
    assert ref() is None
