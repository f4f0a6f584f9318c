"""LangTrack-Synth: determinism, disjoint splits, ground truth checked against rendered pixels,
unambiguous sentences, query switches, LaSOT and ROS 2 bag export round trips."""
import dataclasses

import numpy as np
import pytest

from langtrack_ros.config import ConfigError
from langtrack_ros.data.sequence import parse_boxes, parse_flags
from langtrack_ros.data.synth import SPLITS, default_config, generate_sequence, render_frame
from langtrack_ros.data.synth.generator import target_pixels
from langtrack_ros.data.synth.language import describe, negative_sentence
from langtrack_ros.data.synth.scene import SceneObject

N = 40


@pytest.fixture(scope="module")
def hard():
    return [generate_sequence(i, "hard", length=N) for i in range(6)]


def target_diff(seq, i):
    """Pixels that change when the active target is left out of frame ``i``."""
    full = render_frame(seq, i)
    without = render_frame(seq, i, skip=(int(seq.target_ids[i]),))
    return np.abs(full.astype(int) - without).sum(axis=2) > 0


def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_same_seed_same_sequence():
    a, b = generate_sequence(5, "test", length=20), generate_sequence(5, "test", length=20)
    assert a.sentence == b.sentence and a.switches == b.switches
    np.testing.assert_array_equal(a.boxes, b.boxes)
    for i in (0, 10, 19):
        np.testing.assert_array_equal(a.frames[i], b.frames[i])
    assert a.frames[0].shape == (default_config().height, default_config().width, 3)
    assert a.frames[0].dtype == np.uint8


def test_splits_are_disjoint_seed_ranges():
    cfg = default_config()
    ranges = sorted((cfg.split(s).seed_start, cfg.split(s).seed_start + cfg.split(s).count) for s in SPLITS)
    assert all(b0 >= a1 for (_, a1), (b0, _) in zip(ranges, ranges[1:]))
    seqs = [generate_sequence(0, s, length=10) for s in SPLITS]
    assert len({s.boxes.tobytes() for s in seqs}) == len(SPLITS)
    bad = dataclasses.replace(cfg.splits, val=dataclasses.replace(cfg.splits.val, seed_start=10))
    with pytest.raises(ConfigError, match="overlap"):
        dataclasses.replace(cfg, splits=bad).check()
    with pytest.raises(ValueError, match="sequences 0"):
        generate_sequence(cfg.split("test").count, "test")


def test_box_matches_rendered_target_pixels(hard):
    checked = 0
    for seq in hard:
        for i in range(0, N, 7):
            target = seq.objects[int(seq.target_ids[i])]
            above = [o for o in seq.objects if o.depth > target.depth]
            _, in_frac, vis = target_pixels(target, above, i, seq.width, seq.height)
            if vis < 1.0 or in_frac < 1.0:
                continue
            ys, xs = np.nonzero(target_diff(seq, i))
            drawn = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert iou(drawn, seq.boxes[i]) > 0.9, (seq.name, i, drawn, seq.boxes[i])
            checked += 1
    assert checked >= 5


def test_occlusion_and_out_of_view_flags_match_pixels(hard):
    seen_full = seen_oov = 0
    for seq in hard:
        assert np.array_equal(seq.visible, ~(seq.full_occlusion | seq.out_of_view))
        for i in range(N):
            box = seq.boxes[i]
            if seq.out_of_view[i]:
                assert np.all(np.isnan(box))
                assert target_diff(seq, i).sum() < 0.2 * np.median(seq.boxes[:, 2:].prod(1)[seq.visible])
                seen_oov += 1
                continue
            x, y, w, h = box
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= seq.width and y + h <= seq.height
            if seq.full_occlusion[i]:
                assert target_diff(seq, i).sum() < 0.15 * w * h, (seq.name, i)
                seen_full += 1
    assert seen_full > 0 and seen_oov > 0, "hard split should contain occlusion and out-of-view frames"


def test_hard_split_switches_target(hard):
    seq = next(s for s in hard if s.switches)
    f = seq.switches[0].frame
    old, new = seq.target_ids[f - 1], seq.target_ids[f]
    assert old != new and np.all(seq.target_ids[f:] == new)
    assert seq.to_sequence().query_at(f) == seq.switches[0].sentence != seq.sentence
    diff = target_diff(seq, f)
    assert diff.any()
    ys, xs = np.nonzero(diff)
    assert iou([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], seq.boxes[f]) > 0.5
    assert sum(bool(s.switches) for s in hard) >= 3


def toy(oid, category, colour, xs, texture="plain"):
    n = len(xs)
    return SceneObject(oid, "shape", category, colour, texture, np.zeros((4, 4, 3), np.float32),
                       np.ones((4, 4), np.float32), 0.0, np.asarray(xs, float), np.full(n, 100.0),
                       np.full(n, 20), np.full(n, 20))


def test_sentences_disambiguate_twins_and_never_guess():
    rng = np.random.default_rng(0)
    left, right = toy(0, "ball", "red", [50, 60, 70]), toy(1, "ball", "red", [300, 310, 290])
    cube = toy(2, "square", "blue", [200, 200, 200])
    for _ in range(20):
        text = describe(left, [left, right, cube], 0, 3, rng, 0.0)
        assert "ball" in text or "circle" in text
        assert any(w in text for w in ("left", "on the left")), text
    crossing = toy(1, "ball", "red", [300, 10, 300])  # swaps sides: no relation holds throughout
    assert describe(left, [left, crossing], 0, 3, rng, 0.0) is None
    green = toy(3, "ball", "green", [300, 300, 300])
    texts = {describe(left, [left, green, cube], 0, 3, rng, 0.0) for _ in range(30)}
    assert all("red" in t for t in texts)  # category alone would be ambiguous
    neg = negative_sentence([left, green, cube], rng)
    assert "ball" not in neg and "square" not in neg


def test_sequence_view_and_negative(hard):
    seq = hard[0]
    view = seq.to_sequence()
    assert len(view) == len(seq) and view.sentence == seq.sentence
    np.testing.assert_array_equal(view.image(3), seq.render(3))
    categories = {o.category for o in seq.objects if o.nameable}
    text = seq.negative_sentence(np.random.default_rng(1))
    assert not any(c in text.split() for c in categories)


def test_lasot_export_round_trip(tmp_path, hard):
    import cv2

    from langtrack_ros.data.synth.export import export_lasot

    seq = next(s for s in hard if s.switches)
    (folder,) = export_lasot([seq], tmp_path)
    assert folder == tmp_path / seq.category / f"{seq.category}-{seq.index}"
    assert len(list((folder / "img").glob("*.jpg"))) == N
    boxes = parse_boxes(folder / "groundtruth.txt", N)
    expect = np.where(np.isnan(seq.boxes), 0, seq.boxes)
    np.testing.assert_allclose(boxes, expect)
    np.testing.assert_array_equal(parse_flags(folder / "full_occlusion.txt", N), seq.full_occlusion)
    np.testing.assert_array_equal(parse_flags(folder / "out_of_view.txt", N), seq.out_of_view)
    assert (folder / "nlp.txt").read_text().strip() == seq.sentence
    lines = (folder / "query_switches.txt").read_text().splitlines()
    parsed = [(int(a) - 1, b) for a, b in (ln.split(",", 1) for ln in lines)]
    assert parsed == [(s.frame, s.sentence) for s in seq.switches]
    img = cv2.cvtColor(cv2.imread(str(folder / "img" / "00000001.jpg")), cv2.COLOR_BGR2RGB)
    assert np.abs(img.astype(int) - seq.render(0)).mean() < 6


def test_export_reads_back_through_the_synth_loader(tmp_path, hard):
    from langtrack_ros.data.loaders import load_dataset
    from langtrack_ros.data.synth.export import export_lasot

    export_lasot(hard[:3], tmp_path)
    loaded = {s.name: s for s in load_dataset("synth", tmp_path)}
    for seq in hard[:3]:
        got = loaded[f"{seq.category}-{seq.index}"]
        assert got.sentence == seq.sentence and got.switches == seq.switches
        np.testing.assert_array_equal(got.visible, seq.visible)
        np.testing.assert_allclose(got.boxes[seq.visible], seq.boxes[seq.visible])


def test_bag_export_readable(tmp_path):
    from rosbags.rosbag2 import Reader

    from langtrack_ros.data.bag_export import IMAGE_TOPIC, QUERY_TOPIC, export_bag, typestore

    seq = next(s for s in (generate_sequence(i, "hard", length=24) for i in range(10)) if s.switches)
    path = export_bag(seq, tmp_path, fps=10.0)
    assert "version: 8" in (path / "metadata.yaml").read_text()
    store = typestore()
    images, queries = [], []
    with Reader(path) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == {
            IMAGE_TOPIC: "sensor_msgs/msg/Image", QUERY_TOPIC: "std_msgs/msg/String"}
        for conn, stamp, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            (images if conn.topic == IMAGE_TOPIC else queries).append((stamp, msg))
    assert len(images) == len(seq) and [m.data for _, m in queries] == [seq.sentence] + [s.sentence for s in seq.switches]
    stamp0, img0 = images[0]
    assert img0.encoding == "rgb8" and (img0.height, img0.width) == (seq.height, seq.width)
    assert bytes(img0.data) == seq.render(0).tobytes()
    assert images[1][0] - stamp0 == 100_000_000
    assert queries[1][0] == images[seq.switches[0].frame][0]


def test_render_is_fast():
    import time

    seq = generate_sequence(2, "test", length=30)
    seq.render(0)
    start = time.perf_counter()
    for i in range(30):
        seq.render(i)
    assert (time.perf_counter() - start) / 30 < 0.03
