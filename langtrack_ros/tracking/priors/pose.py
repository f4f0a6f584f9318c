"""Body parts from a pose model: MediaPipe's BlazePose (full) landmarks on crops around person boxes.

Geometry inside the person box (config/priors.yaml ``parts``) places a hand, an arm or a head by the
proportions of an upright body facing the camera; a person bending, running, riding or seen from the
back has them elsewhere. BlazePose's 33 landmarks say where they are. The model runs on a square
crop ``pose_context`` times the person box's longer side (MediaPipe's own region is the detector box
scaled by 1.25) resized to 256 px; a landmark counts when its visibility is at least
``pose_min_visibility``. The head needs no frontal face (a helmet seen from the side or from
behind), so for head targets the pose is the fallback where BlazeFace found no face. Face targets
do not use it: on the corpus's five face sequences the pose fallback scored 1.0 AUC lower on average
than geometry (docs/PRIORS.md "Body parts by pose").
Landmark order (BlazePose GHUM): 0 nose, 1-6 eyes, 7-8 ears, 9-10 mouth, 11-12 shoulders,
13-14 elbows, 15-16 wrists, 17-22 fingers, 23-24 hips, 25-26 knees, 27-28 ankles, 29-30 heels,
31-32 toes (odd = the person's left).
"""
from __future__ import annotations

import numpy as np

from langtrack_ros.tracking.priors import faces

INPUT = 256
LANDMARKS = 39  # 33 body landmarks + 6 auxiliary points the model also outputs
HEAD = tuple(range(11))
# part -> landmark groups; one candidate box per group whose landmarks are visible (sides: left, right)
GROUPS = {
    "head": (HEAD,),
    "torso": ((11, 12, 23, 24),),
    "arm": ((11, 13, 15), (12, 14, 16)),
    "hand": ((15, 17, 19, 21), (16, 18, 20, 22)),
    "leg": ((23, 25, 27, 29, 31, 24, 26, 28, 30, 32),),  # both legs: trousers, jeans, shorts, skirt
    "foot": ((27, 29, 31), (28, 30, 32)),
}
# a part's box: the landmarks' bounding box grown by PAD x its longer side on every side, and at
# least MIN_SIDE x the body scale (shoulder-to-hip length) wide and high: a wrist and three finger
# points span less than a hand, an ankle, heel and toe less than a shoe. A head is the face box of
# its HEAD landmarks (keys "face"; at least FACE_ASPECT tall) grown as faces.as_part grows a face
PAD = {"face": 0.0, "torso": 0.08, "arm": 0.12, "hand": 0.3, "leg": 0.08, "foot": 0.3}
MIN_SIDE = {"face": 0.35, "torso": 0.3, "arm": 0.2, "hand": 0.25, "leg": 0.3, "foot": 0.25}
MIN_POINTS = 2  # visible landmarks a group needs
FACE_ASPECT = 1.25  # h / w of a face at least: its landmarks (ears, eyes, nose, mouth) leave out brow and chin


def decode(raw, crop_at: tuple[float, float, float], min_presence: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The model's raw outputs (landmarks (195,) as 39 x (x, y, z, visibility, presence) in input
    pixels, pose flag) on a crop cut at ``crop_at`` (x0, y0, side) -> (points (39, 2) in image
    pixels, visibility (39,) in [0, 1]); None when the model says there is no person."""
    landmarks, flag = raw
    if not float(np.ravel(flag)[0]) >= min_presence:  # NaN counts as no person
        return None
    lm = np.asarray(landmarks, dtype=np.float64).reshape(LANDMARKS, 5)
    x0, y0, side = crop_at
    points = lm[:, :2] * (side / INPUT) + np.array([x0, y0])
    visibility = 1.0 / (1.0 + np.exp(-np.clip(lm[:, 3], -50, 50)))
    visibility[~np.isfinite(points).all(axis=1)] = 0.0
    return points, visibility


def body_scale(points: np.ndarray, visible: np.ndarray, person_box: np.ndarray) -> float:
    """Shoulder-midpoint to hip-midpoint distance, or a third of the person box's height when a
    shoulder or hip is not visible."""
    if visible[[11, 12, 23, 24]].all():
        return float(np.linalg.norm(points[[11, 12]].mean(axis=0) - points[[23, 24]].mean(axis=0)))
    return float(person_box[3]) / 3.0


def part_boxes(part: str, points: np.ndarray, visibility: np.ndarray, person_box: np.ndarray,
               min_visibility: float) -> list[np.ndarray]:
    """Image-pixel xywh boxes of ``part``, one per landmark group with at least MIN_POINTS visible
    landmarks (a head becomes the head around the face box, faces.as_part); [] for a part the pose
    does not cover."""
    visible = visibility >= min_visibility
    scale = body_scale(points, visible, person_box)
    name = "face" if part == "head" else part
    out = []
    for group in GROUPS.get(part, ()):
        idx = [i for i in group if visible[i]]
        if len(idx) < MIN_POINTS:
            continue
        lo, hi = points[idx].min(axis=0), points[idx].max(axis=0)
        pad = PAD[name] * float((hi - lo).max())
        size = np.maximum(hi - lo + 2 * pad, MIN_SIDE[name] * scale)
        if name == "face":
            size[1] = max(size[1], FACE_ASPECT * size[0])
        centre = (lo + hi) / 2
        box = np.array([centre[0] - size[0] / 2, centre[1] - size[1] / 2, size[0], size[1]])
        out.append(faces.as_part(box, part) if part == "head" else box)
    return out
