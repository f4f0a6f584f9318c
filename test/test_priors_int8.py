"""The int8 copies of the prior detectors (scripts/quantize_priors.py): they load through the same
config keys as the float files and find what the float nets find on real photos."""
import cv2
import numpy as np
import pytest
import skimage.data

from langtrack_ros.builder import build_priors
from langtrack_ros.inference.prior_models import SSDDetector
from langtrack_ros.paths import models_dir
from langtrack_ros.tracking.box_ops import iou_matrix
from langtrack_ros.tracking.priors import ssd

PRIORS = models_dir() / "priors"
PAIRS = [("ssd_mobilenetv2_oidv4.onnx", "Person", "astronaut"),
         ("ssd_mobilenetv2_coco.onnx", "person", "astronaut"),
         ("ssd_mobilenetv2_coco.onnx", "cat", "chelsea")]


@pytest.mark.parametrize("float_file, label, photo", PAIRS)
def test_int8_detector_agrees_with_the_float_one(float_file, label, photo):
    """Best box of the photo's object: same place (IoU > 0.8) and score within 0.1 of the float net's."""
    image = cv2.resize(getattr(skimage.data, photo)(), (ssd.INPUT, ssd.INPUT), interpolation=cv2.INTER_AREA)
    found = []
    for name in (float_file, float_file.replace(".onnx", "_int8.onnx")):
        net = SSDDetector(PRIORS / name, threads=1)
        boxes, scores = ssd.decode(*net(image), [net.labels.index(label)])
        found.append((boxes[int(np.argmax(scores))], float(scores.max())))
    (box_f, p_f), (box_q, p_q) = found
    assert p_f > 0.5
    assert iou_matrix(box_q[None], box_f[None])[0, 0] > 0.8
    assert abs(p_q - p_f) < 0.1


def test_int8_files_are_chosen_by_the_file_keys():
    priors = build_priors("all,detector=ssd_mobilenetv2_oidv4_int8.onnx,coco_detector=ssd_mobilenetv2_coco_int8.onnx",
                          threads=1)
    assert priors.detector.path.name == "ssd_mobilenetv2_oidv4_int8.onnx"
    assert priors.coco.path.name == "ssd_mobilenetv2_coco_int8.onnx"
