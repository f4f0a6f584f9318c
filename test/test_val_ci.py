"""scripts/val_ci.py: bootstrap intervals over sequences for ablation rows."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def val_ci():
    spec = importlib.util.spec_from_file_location("val_ci", ROOT / "scripts" / "val_ci.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ablation(path: Path, rows: dict[str, dict[str, float]], dataset: str = "real-val", bare: bool = False) -> Path:
    """An ablation record; ``bare``: the older layout, a plain list of results."""
    results = [{"dataset": dataset, "row": row, "per_sequence": [
        {"name": n, "auc": auc} for n, auc in scores.items()]} for row, scores in rows.items()]
    path.write_text(json.dumps(results if bare else {"command": "x", "seconds": 1.0, "date": None,
                                                      "results": results}))
    return path


def test_the_interval_holds_the_mean_and_stays_inside_the_values(val_ci):
    values = np.array([0.0, 2.0, 60.0, 70.0, 5.0, 40.0])
    mean, lo, hi = val_ci.interval(values)
    assert mean == pytest.approx(values.mean()) and values.min() <= lo < mean < hi <= values.max()
    assert val_ci.interval(np.full(5, 7.0)) == (7.0, 7.0, 7.0)


def test_a_paired_difference_sees_a_constant_shift_that_a_spread_hides(val_ci):
    a = {f"s{i}": v for i, v in enumerate([0.0, 10.0, 80.0, 5.0, 60.0])}
    b = {k: v + 3.0 for k, v in a.items()}
    assert val_ci.paired(b, a) == pytest.approx((3.0, 3.0, 3.0))  # same shift on every sequence: certain
    _, lo, hi = val_ci.interval(list(b.values()))
    assert lo < np.mean(list(a.values())) < hi  # ... though each row's own interval holds the other's mean
    with pytest.raises(ValueError, match="share no sequence"):
        val_ci.paired({"x": 1.0}, {"y": 1.0})


def test_the_script_prints_one_line_per_row_and_names_a_missing_row(val_ci, tmp_path, monkeypatch, capsys):
    path = _ablation(tmp_path / "ablation.json", {"A4": {"a": 0.1, "b": 0.3}, "P": {"a": 0.5, "b": 0.6}})
    other = _ablation(tmp_path / "other.json", {"A4": {"a": 0.2, "b": 0.3}}, bare=True)
    monkeypatch.setattr(sys, "argv", ["val_ci", "--ablation", str(path), "--other", f"{other}:A4"])
    val_ci.main()
    out = capsys.readouterr().out
    assert "| P | 55.0" in out and "| A4 | 20.0" in out and f"| {other}:A4 | 25.0" in out
    with pytest.raises(KeyError, match="no row 'X'"):
        val_ci.per_sequence(path, "real-val", "X")
