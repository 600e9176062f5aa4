"""Keep Python's garbage collector off the objects that live for the whole run.

After ``import tensorflow`` and a model load a process tracks some 300,000 container objects that never
become garbage (modules, functions, the model's Python objects). CPython walks all of them in a full
collection, and runs one whenever the objects that survived its young collections reach a quarter of
them; a check that draws thousands of inputs, or an emulator parsing a 96x96x3 image's JSON (about 10,000
lists alive until the parse ends), triggers one every few calls. Measured here: the image body's parse took
8.5 ms with TensorFlow loaded and 1.3 ms once those objects were frozen (``gc.freeze``: moved to a
generation the collector never walks); the wide tabular model's row-wise items took about 15% less.

:func:`settle` freezes after a full collection, so that garbage is not frozen with them, and only when the
oldest generation grew by :data:`GROWTH` objects since the last time (a model was loaded), so that a
long run does not pay a full collection per item.
"""

from __future__ import annotations

import gc

__all__ = ["GROWTH", "settle"]

#: objects in the oldest generation that make :func:`settle` collect and freeze (a model load adds 10^5 or more)
GROWTH = 50_000


def settle(growth: int = GROWTH) -> bool:
    """Collect, then freeze every object alive, when the oldest generation holds ``growth`` objects or more
    (those that survived since the last freeze); True when it did."""
    if len(gc.get_objects(generation=2)) < growth:
        return False
    gc.collect()
    gc.freeze()
    return True
