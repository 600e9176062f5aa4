"""In-process pytester runs drop modules first imported inside them; numpy and TensorFlow cannot be
imported twice in one process, so import them here, before any pytester snapshot is taken."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy  # noqa: F401
import tensorflow  # noqa: F401
