"""Exact box averages over the token grid, candidate boxes and IoU (tracking/box_ops.py)."""
import numpy as np
import pytest

from langtrack_ros.tracking.box_ops import box_average, box_token_ranges, candidate_boxes, iou_matrix

G = 8


@pytest.fixture
def grid():
    return np.random.default_rng(0).uniform(-1, 1, (G, G))


def cell_box(i, j, cells=1.0):
    """Normalised box centred on token (i, j), ``cells`` tokens wide and high."""
    side = cells / G
    return np.array([(j + 0.5) / G - side / 2, (i + 0.5) / G - side / 2, side, side])


def test_one_token_box_equals_that_token(grid):
    # The reference defect (first row/column dropped, full-area divisor) returned 0 here.
    for i, j in [(0, 0), (3, 5), (G - 1, G - 1), (0, G - 1)]:
        assert box_average(grid, cell_box(i, j)[None])[0] == pytest.approx(grid[i, j])


def test_box_smaller_than_a_token_uses_the_token_holding_its_centre(grid):
    tiny = np.array([[2.6 / G, 4.1 / G, 0.2 / G, 0.3 / G]])  # inside token row 4, col 2
    assert box_average(grid, tiny)[0] == pytest.approx(grid[4, 2])


def test_box_at_the_border_averages_only_tokens_on_the_grid(grid):
    corner = np.array([[-1.0 / G, -1.0 / G, 3.0 / G, 3.0 / G]])  # spills off the top-left
    assert box_average(grid, corner)[0] == pytest.approx(grid[:2, :2].mean())
    right = np.array([[(G - 2) / G, 3.0 / G, 5.0 / G, 2.0 / G]])  # spills off the right edge
    assert box_average(grid, right)[0] == pytest.approx(grid[3:5, G - 2:].mean())


def test_whole_grid_box_is_the_mean(grid):
    assert box_average(grid, np.array([[0.0, 0.0, 1.0, 1.0]]))[0] == pytest.approx(grid.mean())


def test_tokens_count_by_their_centres(grid):
    box = np.array([[1.4 / G, 2.6 / G, 2.2 / G, 2.0 / G]])  # x 1.4..3.6, y 2.6..4.6 (in tokens)
    r0, r1, c0, c1 = (int(v[0]) for v in box_token_ranges(box, G))
    assert (r0, r1, c0, c1) == (3, 4, 1, 3)
    assert box_average(grid, box)[0] == pytest.approx(grid[3:5, 1:4].mean())


def test_candidate_boxes_follow_offset_and_size():
    offset = np.full((2, G, G), 0.5)
    size = np.full((2, G, G), 0.25)
    offset[:, 2, 5] = [0.0, 1.0]  # x at the left edge of column 5, y at the bottom of row 2
    boxes = candidate_boxes(offset, size)
    assert boxes.shape == (G * G, 4)
    np.testing.assert_allclose(boxes[2 * G + 5], [5 / G - 0.125, 3 / G - 0.125, 0.25, 0.25])
    np.testing.assert_allclose(boxes[0], [0.5 / G - 0.125, 0.5 / G - 0.125, 0.25, 0.25])


def test_iou_matrix():
    a = np.array([[0, 0, 2, 2], [10, 10, 1, 1]], dtype=float)
    b = np.array([[1, 1, 2, 2], [0, 0, 2, 2], [5, 5, 0, 0]], dtype=float)
    expected = np.array([[1 / 7, 1.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(iou_matrix(a, b), expected)
