"""Build a real-video VALIDATION set (OTB99-LANG layout) from public UAV123 clips.

The clips ship in the public GitHub repository vision4robotics/ARCF-tracker (``seq/``: frames of
UAV123 sequences, Mueller et al., ECCV 2016, research use). They are used only to choose
settings of the real-world priors (docs/PRIORS.md); the test clips in shared/data/real are never
used for that. The frames are not committed: run this against a local git snapshot of that
repository. The sentences below were written for this project from the first frame.

    python scripts/make_real_val.py --repo /path/to/ARCF-tracker/.git --out data/real_val
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

# sequence -> (ground-truth file in seq/, first frame, sentence)
CLIPS = {
    "boat1": ("boat1.txt", 1, "the white boat moored by the pier"),
    "person12": ("person12_1.txt", 1, "the person walking on the pavement"),
    "wakeboard7": ("wakeboard7.txt", 1, "the wakeboarder behind the boat"),
    "truck4": ("truck4_1.txt", 1, "the truck on the road"),
}


def git_show(repo: Path, path: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{path}"],
                          check=True, capture_output=True).stdout


def build(repo: Path, out: Path) -> None:
    for name, (gt_file, first, sentence) in CLIPS.items():
        gt = [ln for ln in git_show(repo, f"seq/{gt_file}").decode().splitlines() if ln.strip()]
        img_dir = out / "OTB_videos" / name / "img"
        img_dir.mkdir(parents=True, exist_ok=True)
        for i in range(len(gt)):
            frame = git_show(repo, f"seq/{name}/{first + i:06d}.jpg")
            (img_dir / f"{i + 1:04d}.jpg").write_bytes(frame)
        (out / "OTB_videos" / name / "groundtruth_rect.txt").write_text("\n".join(gt) + "\n")
        (out / "OTB_query_test").mkdir(parents=True, exist_ok=True)
        (out / "OTB_query_test" / f"{name}.txt").write_text(sentence + "\n")
        print(f"{name}: {len(gt)} frames")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True, help="git dir of a vision4robotics/ARCF-tracker snapshot")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    build(args.repo, args.out)


if __name__ == "__main__":
    main()
