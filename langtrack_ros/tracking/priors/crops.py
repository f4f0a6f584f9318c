"""Class evidence from candidate crops classified at the camera's full resolution.

The ImageNet evidence map (fusion.py) sees the whole search patch at 192-256 px, after the frame
was already downscaled to 640 px: a bird in flight or a bottle in a wide shot covers one or two
of its 32-px cells and its class probability drowns in the background. Here the few most
promising candidates (best MVLM score or prior evidence, after NMS) are cut from the camera frame
itself as squares of ``crops_context`` times their longer side, resized to ``crops_size`` and
classified in ONE batched call of the same ImageNet MobileNetV2. The crop's probability of the
query's ImageNet class group is that candidate's evidence (fusion.py takes the max with the
other evidence). Mean logits over the net's output cells = the classifier on the pooled features.
Cost and the measurements: docs/PRIORS.md ("Crop evidence").
"""
from __future__ import annotations

import logging

import numpy as np

from langtrack_ros.tracking.geometry import PatchTransform, image_mean, warp
from langtrack_ros.tracking.priors import ssd

log = logging.getLogger(__name__)

MIN_SIDE = 16.0  # camera pixels: a degenerate box still gets a crop this big around its centre
NMS_IOU = 0.5  # candidates overlapping a better one by more are not cropped again


def pick(boxes: np.ndarray, rank: np.ndarray, k: int) -> np.ndarray:
    """Indices of at most ``k`` usable boxes (finite, positive size, finite rank), best ``rank``
    first, none overlapping a kept one by IoU > NMS_IOU (the top cells of a score map are neighbours
    of one object; one crop of it is enough): the detectors' NMS on the usable ones."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    r = np.asarray(rank, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0) & np.isfinite(r))
    return ok[ssd.nms(b[ok], r[ok], NMS_IOU, k)]


def crop_transforms(boxes_img: np.ndarray, context: float, size: int) -> list[PatchTransform]:
    """Square crop of side ``context`` x the longer box side (>= MIN_SIDE) around each box centre."""
    out = []
    for x, y, w, h in np.asarray(boxes_img, dtype=np.float64).reshape(-1, 4):
        side = max(context * max(w, h), MIN_SIDE)
        out.append(PatchTransform(x + w / 2 - side / 2, y + h / 2 - side / 2, side / size, size))
    return out


def batched_session(net):
    """An ONNX Runtime session of ``net``'s model with a free batch dimension (the shipped file fixes
    it at 1; the graph is fully convolutional, so only the declared shapes change), or None when the
    file cannot be re-declared (then crops run one call each)."""
    try:
        import onnx
        import onnxruntime as ort

        model = onnx.load(str(net.path))
        for value in (model.graph.input[0], model.graph.output[0]):
            value.type.tensor_type.shape.dim[0].dim_param = "n"
        options = ort.SessionOptions()
        options.intra_op_num_threads = net.session.get_session_options().intra_op_num_threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return ort.InferenceSession(model.SerializeToString(), options, providers=net.session.get_providers())
    except Exception as exc:  # onnx/onnxruntime raise their own types; any failure means the same here
        log.warning("crop evidence: no batched session for %s (%s: %s); one call per crop",
                    getattr(net, "path", net), type(exc).__name__, exc)
        return None


class CropEvidence:
    """``evidence(frame, boxes, classes)``: ImageNet class-group probability of each box's crop."""

    def __init__(self, net, size: int, context: float):
        self.net, self.size, self.context = net, size, context
        self.session = batched_session(net)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) normalised crops -> (N, 1000, cells): one call when batched."""
        if self.session is not None:
            return self.session.run(None, {self.net.input: x})[0].reshape(len(x), 1000, -1)
        return np.concatenate([self.net.session.run(None, {self.net.input: x[i:i + 1]})[0].reshape(1, 1000, -1)
                               for i in range(len(x))])

    def evidence(self, frame: np.ndarray, boxes_img: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """(N,) probability of ``classes`` for each camera-pixel box (xywh) of ``frame`` (RGB uint8);
        boxes partly or wholly outside the frame are padded with its mean colour; a degenerate box
        gets a MIN_SIDE crop around its centre, a non-finite one evidence 0."""
        boxes = np.asarray(boxes_img, dtype=np.float64).reshape(-1, 4)
        out = np.zeros(len(boxes))
        ok = np.isfinite(boxes).all(axis=1)
        if not ok.any() or not len(classes):
            return out
        fill = image_mean(frame)
        crops = np.stack([warp(frame, t, fill) for t in crop_transforms(boxes[ok], self.context, self.size)])
        x = ((crops.astype(np.float32) / 255.0 - self.net.MEAN) / self.net.STD).transpose(0, 3, 1, 2)
        logits = self._logits(np.ascontiguousarray(x)).mean(axis=2)  # the classifier on pooled features
        logits = logits - logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        out[ok] = prob[:, np.asarray(classes, dtype=int)].sum(axis=1) / prob.sum(axis=1)
        return out
