"""Movement between two models, row by row (pure numpy: no TensorFlow)."""

from __future__ import annotations

import numpy as np

from pytest_savedmodel.compare import Tolerance
from pytest_savedmodel.movement import BUCKETS, Movement, format_movement, row_moves

TOL = Tolerance(rtol=1e-4, atol=1e-5)


def test_a_row_moves_by_its_largest_element_and_nan_on_one_side_is_an_infinite_move() -> None:
    a = np.array([[0.0, 1.0], [2.0, np.nan], [np.nan, 5.0], [np.inf, 1.0]])
    b = np.array([[0.0, 1.5], [2.0, np.nan], [1.0, 5.0], [np.inf, 1.0]])
    move, beyond = row_moves(a, b, TOL)
    assert move.tolist() == [0.5, 0.0, np.inf, 0.0]
    assert beyond.tolist() == [True, False, True, False]


def test_exact_outputs_move_when_a_value_changes_numbers_by_their_difference() -> None:
    move, beyond = row_moves(np.array([[1], [2], [0]]), np.array([[1], [0], [0]]), TOL)
    assert move.tolist() == [0.0, 2.0, 0.0] and beyond.tolist() == [False, True, False]
    move, beyond = row_moves(np.array([b"a", b"b"], dtype=object), np.array([b"a", b"c"], dtype=object), TOL)
    assert move.tolist() == [0.0, 1.0] and beyond.tolist() == [False, True]


def test_movement_counts_rows_beyond_the_tolerance_and_buckets_every_row() -> None:
    m = Movement(TOL)
    moved = m.add({"p": np.array([0.5, 0.5, 0.5, 0.5]), "c": np.array([1, 1, 2, 0])},
                  {"p": np.array([0.5, 0.500001, 0.51, 3.0]), "c": np.array([1, 1, 2, 1])}, ["c", "p"])
    assert moved.tolist() == [2, 3]  # rows beyond the tolerance on any output
    p, c = m.outputs["p"], m.outputs["c"]
    assert (p.rows, p.moved, c.rows, c.moved) == (4, 2, 4, 1)
    assert dict(zip(BUCKETS, p.hist, strict=True)) == {"0": 1, "<=1e-6": 0, "<=1e-4": 1, "<=0.01": 0, "<=0.1": 1,
                                                       "<=1": 0, "<=10": 1, ">10": 0}
    # a changed decision is what users see: the note names the exact output even when a score moved more often
    assert m.note() == "c: 1 of 4 rows changed (25.0%), largest 1"
    doc = m.to_dict()
    assert doc["outputs"]["c"] == {"rows": 4, "moved": 1, "share": 0.25, "exact": True, "max_abs": 1.0}
    assert sum(doc["outputs"]["p"]["histogram"].values()) == 4


def test_a_changed_shape_is_not_compared_and_says_so() -> None:
    m = Movement(TOL)
    m.add({"y": np.zeros((2, 3))}, {"y": np.zeros((2, 4))}, ["y"])
    assert m.outputs["y"].note == "not compared: shape (2, 3) vs (2, 4)"
    assert format_movement("item", m.to_dict())[1] == "  y: not compared: shape (2, 3) vs (2, 4)"


def test_the_summary_block_lists_outputs_by_share_with_their_histogram() -> None:
    m = Movement(TOL)
    m.add({"p": np.array([0.1, 0.2]), "c": np.array([1, 1])}, {"p": np.array([0.1, 0.7]), "c": np.array([1, 1])},
          ["c", "p"])
    assert format_movement("savedmodel:m:baseline::sig::movement[baseline~raw]", m.to_dict()) == [
        "savedmodel:m:baseline::sig::movement[baseline~raw]: how far predictions moved (rtol=0.0001 atol=1e-05)",
        "  p: 1 of 2 rows moved beyond tolerance (50.0%), largest move 0.5; rows by largest move: 0:1 <=1:1",
        "  c: 0 of 2 rows changed (0.0%), largest move 0",
    ]
    assert Movement(TOL).note() == "no output compared"
