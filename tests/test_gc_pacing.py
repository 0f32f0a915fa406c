"""The app's pacing of the cycle collector: short full collections, and no garbage kept for ever."""

from __future__ import annotations

import gc
import weakref

from laoyou.app import GcPacing


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it


def test_full_collections_walk_only_what_came_since_and_the_frozen_heap_is_walked_once_it_doubles():
    # Given the pacing started (as the app's startup does)
    pacing = GcPacing()
    thresholds = gc.get_threshold()
    pacing.start()
    try:
        # (the frozen count only shrinks until the next freeze: frozen objects still die by reference count)
        assert pacing.base > 0 and gc.get_freeze_count() <= pacing.base
        assert gc.get_threshold()[2] == GcPacing.FULL_AFTER
        # When a cycle becomes garbage before the next full collection
        young = Node()
        gone_young = weakref.ref(young)
        del young
        gc.collect()
        # Then that collection frees it (the young and the newly old are walked as before)
        assert gone_young() is None
        # When a cycle survives a full collection (so it is frozen) and only then becomes garbage
        old = Node()
        gone_old = weakref.ref(old)
        gc.collect()
        frozen = gc.get_freeze_count()
        del old
        gc.collect()
        # Then it is kept while the frozen heap is small...
        assert gone_old() is not None
        # ...and freed by the first full collection after the frozen heap has doubled, which walks everything
        pacing.base = frozen // 3
        gc.collect()
        assert gone_old() is None
        assert pacing.base > frozen // 3 and gc.get_freeze_count() <= pacing.base and not pacing.walking_all
    finally:
        pacing.stop()
    # And stopping gives the collector back as it was
    assert gc.get_threshold() == thresholds
    assert pacing._pace not in gc.callbacks


def test_several_apps_in_one_process_share_one_pacing():
    pacing = GcPacing()
    pacing.start()
    pacing.start()
    try:
        assert gc.callbacks.count(pacing._pace) == 1
        pacing.stop()
        assert pacing._pace in gc.callbacks  # the other app still runs
    finally:
        pacing.stop()
    assert pacing._pace not in gc.callbacks
