"""heap.settle: collect, then freeze, only when the oldest generation grew (a model was loaded)."""

from __future__ import annotations

import gc
import weakref

from pytest_savedmodel.heap import settle


def test_settle_freezes_only_after_growth_and_collects_garbage_first() -> None:
    class Cycle:
        pass

    gc.collect()
    gc.unfreeze()
    try:
        garbage = Cycle()
        garbage.me = garbage  # type: ignore[attr-defined]
        kept = [[i] for i in range(2000)]
        gc.collect(1)  # promote both to the oldest generation, as long-lived objects get
        ids = {id(x) for x in gc.get_objects(generation=2)}
        assert id(garbage) in ids and id(kept[0]) in ids
        alive = weakref.ref(garbage)
        del garbage
        assert settle(growth=10**9) is False and gc.get_freeze_count() == 0
        assert settle(growth=1000) is True
        frozen = gc.get_freeze_count()
        assert frozen >= 2000 and alive() is None  # the cycle was collected, not frozen
        assert settle(growth=1000) is False  # nothing new since
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
