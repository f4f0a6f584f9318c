"""Figure for docs/PRIORS.md: where body-part targets land by geometry and by the pose model.

On skimage's astronaut photo (NASA, public domain) the shipped person detector finds the person; for
each part the figure draws the geometric box (config/priors.yaml ``parts``, dashed) and the
BlazePose box (tracking/priors/pose.py, solid) with the landmarks the pose model saw.

    python scripts/plot_pose_parts.py --out docs/img/pose_parts.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

from langtrack_ros.builder import build_priors  # noqa: E402
from langtrack_ros.tracking.geometry import PatchTransform  # noqa: E402
from langtrack_ros.tracking.priors import faces, pose, ssd  # noqa: E402
from langtrack_ros.tracking.priors.fusion import part_boxes  # noqa: E402

PARTS = ("head", "torso", "arm", "hand", "leg")
COLOURS = ("tab:red", "tab:blue", "tab:orange", "tab:green", "tab:purple")


def person_box(priors, image) -> np.ndarray:
    """The best Open Images 'Person' detection on the whole photo (image pixels)."""
    h, w = image.shape[:2]
    t = PatchTransform(0.0, 0.0, max(h, w) / 128.0, 128)
    priors.set_query("the person")
    boxes, p = priors._detections(image, t, None)
    return t.box_to_image(boxes[int(np.argmax(p))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/img/pose_parts.png"))
    args = ap.parse_args()
    image = skimage.data.astronaut()
    priors = build_priors("all")
    owner = person_box(priors, image)
    crop, crop_at = faces.crop_square(image, owner, priors.cfg.pose_context, pose.INPUT)
    points, vis = pose.decode(priors.pose(crop), crop_at, priors.cfg.pose_min_presence)
    fig, axes = plt.subplots(1, len(PARTS), figsize=(3.2 * len(PARTS), 3.6))
    for ax, part, colour in zip(axes, PARTS, COLOURS):
        ax.imshow(image)
        region = priors.lexicon.parts[[p.name for p in priors.lexicon.parts].index(part)].region
        geo = part_boxes(owner[None], region, priors.cfg.person_aspect)[0]
        ax.add_patch(plt.Rectangle(geo[:2], geo[2], geo[3], fill=False, ls="--", lw=1.5, color="white"))
        for box in pose.part_boxes(part, points, vis, owner, priors.cfg.pose_min_visibility):
            ax.add_patch(plt.Rectangle(box[:2], box[2], box[3], fill=False, lw=2, color=colour))
        seen = vis >= priors.cfg.pose_min_visibility
        ax.scatter(points[:33][seen[:33], 0], points[:33][seen[:33], 1], s=6, c="yellow")
        ax.set_title(f"{part}: geometry (dashed) / pose", fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"BlazePose landmarks (visibility >= {priors.cfg.pose_min_visibility}) on the detected person "
                 f"({ssd.INPUT}-px SSD box)", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
