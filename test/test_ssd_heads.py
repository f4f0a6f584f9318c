"""The SSDs cut down to the query's class heads (inference/ssd_heads.py, priors.query_heads): the
kept classes' logits and every box are exactly the full model's, the others are not computed."""
import logging

import cv2
import numpy as np
import onnx
import pytest
import skimage.data
from onnx import TensorProto, helper

from langtrack_ros.builder import build_priors
from langtrack_ros.inference.prior_models import SSDDetector
from langtrack_ros.inference.ssd_heads import class_subset
from langtrack_ros.paths import models_dir
from langtrack_ros.tracking.priors import ssd

PRIORS = models_dir() / "priors"
CASES = [("ssd_mobilenetv2_coco_int8.onnx", ["bird"]), ("ssd_mobilenetv2_coco_int8.onnx", ["person", "bicycle"]),
         ("ssd_mobilenetv2_oidv4_int8.onnx", ["Person"]), ("ssd_mobilenetv2_coco.onnx", ["cat", "dog"])]


def _photo(name="astronaut"):
    return cv2.resize(getattr(skimage.data, name)(), (ssd.INPUT, ssd.INPUT), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("name, labels", CASES)
def test_cut_heads_give_the_full_models_numbers(name, labels):
    net = SSDDetector(PRIORS / name, threads=1)
    keep = [net.labels.index(label) for label in labels]
    full_boxes, full_logits = net(_photo())
    net.keep_classes(keep)
    net.wait_cut()
    assert net.kept == tuple(sorted(keep)) and net.session is not net.full
    boxes, logits = net(_photo())
    if "int8" in name:  # integer arithmetic: bit for bit, not just close
        assert np.array_equal(boxes, full_boxes) and np.array_equal(logits[:, keep], full_logits[:, keep])
    else:  # float kernels may block fewer output channels differently on another CPU
        assert np.allclose(boxes, full_boxes, atol=1e-5) and np.allclose(logits[:, keep], full_logits[:, keep], atol=1e-5)
    others = np.setdiff1d(np.arange(len(net.labels)), keep)
    assert np.isneginf(logits[:, others]).all()  # never computed: sigmoid 0, never a detection
    assert np.isclose(ssd.decode(boxes, logits, keep)[1].max(), ssd.decode(full_boxes, full_logits, keep)[1].max())
    net.keep_classes(None)
    assert net.session is net.full and np.array_equal(net(_photo())[1], full_logits)


def test_a_new_query_never_waits_for_its_cut():
    """Until the worker has built the cut, every class is computed: the same numbers, no wait."""
    net = SSDDetector(PRIORS / "ssd_mobilenetv2_coco_int8.onnx", threads=1)
    full = net(_photo())[1]
    net.keep_classes([16])
    assert net.kept is None and net.session is net.full  # not built yet: the full model answers
    assert np.array_equal(net(_photo())[1], full)
    net.wait_cut()
    assert net.kept == (16,) and np.array_equal(net(_photo())[1][:, 16], full[:, 16])


def test_a_cut_finished_after_the_query_changed_is_not_used():
    net = SSDDetector(PRIORS / "ssd_mobilenetv2_coco_int8.onnx", threads=1)
    net.keep_classes([16])
    net.keep_classes(None)  # the next query needs every class (or none of this SSD's)
    net.wait_cut()
    assert net.kept is None and net.session is net.full and (16,) in net._cut


def test_cut_sessions_are_cached_and_bounded():
    net = SSDDetector(PRIORS / "ssd_mobilenetv2_coco_int8.onnx", threads=1)
    net.keep_classes([16])
    net.wait_cut()
    first = net.session
    net.keep_classes([1])
    net.wait_cut()
    net.keep_classes([16])
    assert net.session is first  # back to an earlier query: in use at once, no rebuild
    for c in range(2, 2 + SSDDetector.KEPT_SESSIONS):
        net.keep_classes([c])
        net.wait_cut()
    assert len(net._cut) == SSDDetector.KEPT_SESSIONS and (16,) not in net._cut


def test_a_graph_it_does_not_understand_is_refused():
    """A non-shape op between the class conv and the output: ValueError, nothing half-cut."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [6, 2, 1, 1], np.ones(12, np.float32))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Sigmoid", ["c"], ["s"]),
             helper.make_node("Reshape", ["s", "shape"], ["logits"]), helper.make_node("Identity", ["x"], ["boxes"])]
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [1, -1, 3])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 2])],
                              [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 2, 2, 2]),
                               helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 8, 3])], [w, shape])
    model = helper.make_model(graph)
    before = model.SerializeToString()
    with pytest.raises(ValueError, match="Sigmoid"):
        class_subset(model, [1])
    assert model.SerializeToString() == before
    with pytest.raises(ValueError, match="subset"):
        class_subset(onnx.load(str(PRIORS / "ssd_mobilenetv2_coco_int8.onnx")), [91])


def test_a_detector_that_cannot_be_cut_keeps_every_class(monkeypatch, caplog):
    net = SSDDetector(PRIORS / "ssd_mobilenetv2_coco_int8.onnx", threads=1)

    def refuse(model, keep, logits_output=1):
        raise ValueError("unexpected Sigmoid node")

    monkeypatch.setattr("langtrack_ros.inference.ssd_heads.class_subset", refuse)
    with caplog.at_level(logging.WARNING):
        net.keep_classes([16])
        net.wait_cut()
    assert net.kept is None and net.session is net.full
    assert "cannot cut its class heads" in caplog.text and "Sigmoid" in caplog.text


def test_each_query_keeps_the_classes_it_reads():
    priors = build_priors("all", threads=1)
    coco, oid = priors.coco, priors.detector
    priors.set_query("the bird on the fence")
    priors.wait_heads()
    assert [coco.labels[c] for c in coco.kept] == ["bird"]
    priors.set_query("the person next to the dog")  # one SSD knows both: it computes both
    priors.wait_heads()
    assert [oid.labels[c] for c in oid.kept] == ["Person", "Dog"] and coco.kept is None
    priors.set_query("the bird next to the car")  # target from the COCO SSD, the relation from the other
    priors.wait_heads()
    assert [coco.labels[c] for c in coco.kept] == ["bird"] and [oid.labels[c] for c in oid.kept] == ["Vehicle", "Car"]
    priors.set_query("the red thing")  # no category: nothing to cut for
    assert oid.kept is None and coco.kept is None
    off = build_priors("all,query_heads=false", threads=1)
    off.set_query("the bird")
    off.wait_heads()
    assert off.coco.kept is None


def test_a_cut_that_answers_differently_is_not_used(monkeypatch, caplog):
    """A converter with another channel order would cut the wrong channels: the probe frame catches it."""
    from langtrack_ros.inference import ssd_heads

    real = ssd_heads.class_subset

    def shifted(model, keep, logits_output=1):
        return real(model, [k + 1 for k in keep], logits_output)  # the neighbouring class's channels

    monkeypatch.setattr(ssd_heads, "class_subset", shifted)
    net = SSDDetector(PRIORS / "ssd_mobilenetv2_coco_int8.onnx", threads=1)
    with caplog.at_level(logging.WARNING):
        net.keep_classes([16])
        net.wait_cut()
    assert net.kept is None and net.session is net.full
    assert "differ from the full model" in caplog.text
