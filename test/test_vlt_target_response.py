"""scripts/vlt_target_response.py: the cls / score it reports at the true target are the maps' values
at the map point nearest the target's centre, and the peak is the score map's maximum."""
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from langtrack_ros.vlt import tracker as vt
from langtrack_ros.vlt.arch import Architecture
from langtrack_ros.vlt.model import VLTNet
from test_training import make_sequence
from test_vlt import BLOCKS, TINY, Encoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from vlt_target_response import target_response  # noqa: E402


def test_target_response_reads_the_maps_at_the_target_and_the_peak():
    torch.manual_seed(0)
    model = VLTNet(dataclasses.replace(TINY, architecture=Architecture.uniform("k3", BLOCKS).to_dict()))
    seq = make_sequence()
    tracker = vt.VLTTracker(model, Encoder(), vt.load_vlt_settings())
    tracker.set_query(seq.sentence, seq.boxes[0])
    tracker.step(seq.image(0))
    r = target_response(tracker, seq.image(1), seq.boxes[1])
    res = tracker._respond(seq.image(1), (1.0,))[0]
    centre = seq.boxes[1][:2] + seq.boxes[1][2:] / 2
    px, py = (centre - [res.t.x0, res.t.y0]) / res.t.scale
    np.testing.assert_allclose(r["target_px"], (px, py))
    j, i = np.abs(res.points - px).argmin(), np.abs(res.points - py).argmin()
    assert r["cls_at_target"] == float(res.cls[i, j]) and r["score_at_target"] == float(res.score[i, j])
    assert r["peak_score"] == float(res.score.max()) and r["peak_score"] >= r["score_at_target"]
