"""Rebuild the real tracking corpus (LaSOT layout) from public git snapshots, as the manifest says.

The frames are never committed: datasets/real_corpus.yaml names, per sequence, the public
repository, the commit, the image folder, the frame range and the annotation file(s); this script
reads them out of local git mirrors (the search tool's ``fetch`` puts them at
``/work/.mirror/<owner>+<name>/repo``) or out of plain checkouts (``--local``), writes

    <out>/<category>/<name>/img/00000001.jpg, groundtruth.txt, full_occlusion.txt,
    out_of_view.txt, nlp.txt, other_queries.txt         and <out>/testing_set.txt (val split)

and checks every sequence against the frame count and the frame hash recorded in the manifest.
Each sequence is written into a temporary folder and renamed into place, and a sequence folder
that already exists is only verified, never rewritten (other jobs may be reading it).

    python scripts/build_real_corpus.py --mirrors /work/.mirror --out /work/data/real_corpus
    python scripts/build_real_corpus.py --record ...   # fill in counts and hashes after an edit
"""
from __future__ import annotations

import argparse
import hashlib
import math
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent / "datasets" / "real_corpus.yaml"
IMAGE_SUFFIXES = (".jpg", ".jpeg")
SPLIT_FILE = "testing_set.txt"


class CorpusError(RuntimeError):
    """A missing mirror, file or frame, or a mismatch with the manifest: stop with one clear line."""


# ----------------------------------------------------------------------------------- sources
class Source:
    """Files of one repository at one commit: a git mirror (``git cat-file``) or a plain folder."""

    def __init__(self, repo: str, commit: str, mirrors: Path | None, local: Path | None):
        self.repo, self.commit = repo, commit
        self.git_dir = self.folder = None
        if local is not None:
            self.folder = local / repo.replace("/", "+")
            if not self.folder.is_dir():
                raise CorpusError(f"{repo}: no local copy at {self.folder}")
        else:
            self.git_dir = find_mirror(mirrors, repo)

    def list_dir(self, path: str) -> list[str]:
        """File names directly inside ``path``."""
        if self.folder is not None:
            d = self.folder / path
            if not d.is_dir():
                raise CorpusError(f"{self.repo}: no folder {path} in {self.folder}")
            return sorted(p.name for p in d.iterdir() if p.is_file())
        out = self._git("ls-tree", "--name-only", f"{self.commit}:{path}")
        return sorted(out.decode().split("\n")[:-1])

    def read_many(self, paths: list[str], progress=None) -> list[bytes]:
        """Contents of ``paths`` in order, with one ``git cat-file --batch`` process (fast)."""
        if self.folder is not None:
            return [self._read_local(p, progress) for p in paths]
        proc = subprocess.Popen(["git", "--git-dir", str(self.git_dir), "cat-file", "--batch"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            return [self._read_batch(proc, p, progress) for p in paths]
        finally:
            proc.stdin.close()
            proc.wait()

    def read(self, path: str) -> bytes:
        return self.read_many([path])[0]

    def _read_local(self, path: str, progress) -> bytes:
        file = self.folder / path
        if not file.is_file():
            raise CorpusError(f"{self.repo}: missing file {path} in {self.folder}")
        if progress is not None:
            progress.update(1)
        return file.read_bytes()

    def _read_batch(self, proc, path: str, progress) -> bytes:
        proc.stdin.write(f"{self.commit}:{path}\n".encode())
        proc.stdin.flush()
        header = proc.stdout.readline().decode().split()
        if len(header) != 3:
            raise CorpusError(f"{self.repo}@{self.commit[:10]}: missing file {path} ({' '.join(header)})")
        data = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)
        if progress is not None:
            progress.update(1)
        return data

    def _git(self, *args: str) -> bytes:
        run = subprocess.run(["git", "--git-dir", str(self.git_dir), *args], capture_output=True)
        if run.returncode:
            raise CorpusError(f"{self.repo}@{self.commit[:10]}: git {args[0]} failed: "
                              f"{run.stderr.decode().strip()}")
        return run.stdout


def find_mirror(mirrors: Path, repo: str) -> Path:
    """The git dir of ``owner/name`` under ``mirrors`` (``owner+name/repo[/.git]``)."""
    base = mirrors / repo.replace("/", "+")
    for candidate in (base / "repo" / ".git", base / "repo", base / ".git", base):
        if (candidate / "objects").is_dir():
            return candidate
    raise CorpusError(f"no git mirror of {repo} under {mirrors} (looked for {base}/repo): "
                      f"fetch github:{repo} first")


# -------------------------------------------------------------------------------- sequences
@dataclass
class Built:
    frames: list[bytes]
    boxes: list[tuple[float, float, float, float] | None]


def frame_number(name: str) -> int | None:
    """The last run of digits in a file name (``img000012.jpg`` -> 12)."""
    found = re.findall(r"\d+", Path(name).stem)
    return int(found[-1]) if found else None


def parse_box(line: str) -> tuple[float, float, float, float] | None:
    """x,y,w,h from a 4-value row, or the enclosing box of an 8-value VOT polygon; None for NaN."""
    values = [float(v) for v in re.split(r"[,\s]+", line.strip()) if v]
    if len(values) == 8:
        xs, ys = values[0::2], values[1::2]
        values = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    if len(values) != 4:
        raise ValueError(f"expected 4 or 8 numbers, got {len(values)}")
    if any(math.isnan(v) for v in values) or values[2] <= 0 or values[3] <= 0:
        return None
    return tuple(values)


def read_annotations(rec: dict, sources, first: int, count: int) -> list:
    """One box (or None) per kept frame; later annotation files overwrite earlier ones."""
    boxes: list = [None] * count
    covered = [False] * count
    for ann in rec["annotations"]:
        src = sources(ann.get("repo", rec["repo"]), ann.get("commit", rec["commit"]))
        text = src.read(ann["path"]).decode("utf-8-sig", errors="replace")
        rows = [ln for ln in text.splitlines() if ln.strip()]
        for k, line in enumerate(rows):
            index = ann["first_frame"] + k - first
            if 0 <= index < count:
                try:
                    boxes[index] = parse_box(line)
                except ValueError as err:
                    raise CorpusError(f"{rec['name']}: {ann['path']} row {k + 1}: {err}") from None
                covered[index] = True
    if not all(covered):
        raise CorpusError(f"{rec['name']}: frames {covered.index(False) + first}... have no "
                          f"annotation row (trim first_frame/frame_count)")
    return boxes


def read_sequence(rec: dict, sources) -> Built:
    """Frames ``first_frame .. first_frame+frame_count-1`` (by the number in the file name) and boxes."""
    src = sources(rec["repo"], rec["commit"])
    names = [n for n in src.list_dir(rec["img_dir"]) if n.lower().endswith(IMAGE_SUFFIXES)]
    by_number = {frame_number(n): n for n in names}
    first, count = rec["first_frame"], rec["frame_count"]
    wanted = list(range(first, first + count))
    missing = [n for n in wanted if n not in by_number]
    if missing:
        raise CorpusError(f"{rec['name']}: {len(missing)} frames missing in {rec['repo']}:"
                          f"{rec['img_dir']} (first: {missing[0]})")
    with tqdm(total=count, desc=rec["name"], unit="frame", leave=False, disable=None) as bar:
        frames = src.read_many([f"{rec['img_dir']}/{by_number[n]}" for n in wanted], bar)
    return Built(frames, read_annotations(rec, sources, first, count))


def frames_digest(frames: list[bytes]) -> str:
    """sha256 over the per-frame sha256 hex digests, in order (independent of file names)."""
    outer = hashlib.sha256()
    for data in frames:
        outer.update(hashlib.sha256(data).hexdigest().encode())
    return outer.hexdigest()


def fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def write_sequence(rec: dict, built: Built, folder: Path) -> None:
    """Write one LaSOT sequence folder into ``folder`` (a temporary path the caller renames)."""
    (folder / "img").mkdir(parents=True)
    for i, data in enumerate(built.frames, 1):
        (folder / "img" / f"{i:08d}.jpg").write_bytes(data)
    rows = [",".join(fmt(v) for v in b) if b else "0,0,0,0" for b in built.boxes]
    (folder / "groundtruth.txt").write_text("\n".join(rows) + "\n")
    (folder / "full_occlusion.txt").write_text(",".join("0" for _ in rows) + "\n")
    (folder / "out_of_view.txt").write_text(",".join("0" if b else "1" for b in built.boxes) + "\n")
    (folder / "nlp.txt").write_text(rec["sentence"].strip() + "\n")
    write_other_queries(rec, folder)


def write_other_queries(rec: dict, folder: Path) -> None:
    """``other_queries.txt``: ``<frame>,<x>,<y>,<w>,<h>,<sentence>`` per second sentence naming
    another visible object, with that object's box on that frame only. Not ``query_switches.txt``:
    a switch means the rows after it follow the new object, and nobody annotated it there."""
    lines = [f"{q['frame']},{','.join(fmt(v) for v in q['box'])},{q['sentence'].strip()}"
             for q in rec.get("other_queries") or []]
    path = folder / "other_queries.txt"
    text = "".join(f"{ln}\n" for ln in lines)
    if lines and (not path.is_file() or path.read_text() != text):
        tmp = folder / "other_queries.txt.tmp"
        tmp.write_text(text)
        tmp.replace(path)


def check(rec: dict, built: Built) -> None:
    """The frames must be the ones the manifest recorded (count, boxes, hash)."""
    have = {"frame_count": len(built.frames),
            "frames_with_boxes": sum(b is not None for b in built.boxes),
            "frames_sha256": frames_digest(built.frames)}
    for key, value in have.items():
        if rec.get(key) != value:
            raise CorpusError(f"{rec['name']}: {key} is {value}, manifest says {rec.get(key)}")


def existing_ok(rec: dict, folder: Path) -> None:
    """An existing folder is only verified: same frame count and same recorded frame hash."""
    frames = sorted((folder / "img").glob("*.jpg"))
    if len(frames) != rec["frame_count"]:
        raise CorpusError(f"{folder}: {len(frames)} frames on disk, manifest says {rec['frame_count']} "
                          f"(remove the folder to rebuild it)")
    if frames_digest([f.read_bytes() for f in frames]) != rec["frames_sha256"]:
        raise CorpusError(f"{folder}: frames differ from the manifest's hash (remove it to rebuild)")


# ------------------------------------------------------------------------------------ corpus
def load_manifest(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    names = [r["name"] for r in data["sequences"]]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise CorpusError(f"{path}: sequence names {sorted(dup)} appear twice")
    never = {n.lower() for n in data.get("never_train", [])}
    banned = [r["name"] for r in data["sequences"]
              if {r["name"].lower(), str(r.get("source_name", "")).lower()} & never]
    if banned:
        raise CorpusError(f"{path}: sequences {banned} are on the never-train list")
    return data


def check_mirrors(records: list[dict], mirrors: Path | None, local: Path | None) -> None:
    """Fail before writing anything when any repository is missing (one line per repository)."""
    repos = sorted({r["repo"] for r in records} |
                   {a["repo"] for r in records for a in r["annotations"] if "repo" in a})
    missing = []
    for repo in repos:
        try:
            Source(repo, "", mirrors, local)
        except CorpusError as err:
            missing.append(str(err))
    if missing:
        raise CorpusError("; ".join(missing))


def append_split(out: Path, records: list[dict]) -> None:
    """Add val sequences present on disk to testing_set.txt, never reordering or removing lines."""
    path = out / SPLIT_FILE
    listed = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()] if path.is_file() else []
    new = [r["name"] for r in records if r["split"] == "val" and r["name"] not in listed
           and (out / r["category"] / r["name"] / "img").is_dir()]
    if new:
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{n}\n" for n in listed + new))
        tmp.replace(path)


def build(manifest: Path, out: Path, mirrors: Path | None = None, local: Path | None = None,
          only: list[str] | None = None, record: bool = False) -> dict:
    """Build (or verify) every selected sequence; with ``record`` write counts and hashes back."""
    data = load_manifest(manifest)
    records = [r for r in data["sequences"] if not only or r["name"] in only]
    if only and len(records) != len(set(only)):
        raise CorpusError(f"unknown sequences: {sorted(set(only) - {r['name'] for r in records})}")
    check_mirrors(records, mirrors, local)
    cache: dict = {}

    def sources(repo: str, commit: str) -> Source:
        key = (repo, commit)
        if key not in cache:
            cache[key] = Source(repo, commit, mirrors, local)
        return cache[key]

    out.mkdir(parents=True, exist_ok=True)
    stats = {"built": 0, "verified": 0, "frames": 0, "with_boxes": 0}
    for rec in tqdm(records, desc="sequences", unit="seq", disable=None):
        target = out / rec["category"] / rec["name"]
        if target.exists() and not record:
            existing_ok(rec, target)
            write_other_queries(rec, target)  # a new file beside the others, added whole
            stats["verified"] += 1
        else:
            built = read_sequence(rec, sources)
            if record:
                rec["frame_count"] = len(built.frames)
                rec["frames_with_boxes"] = sum(b is not None for b in built.boxes)
                rec["frames_sha256"] = frames_digest(built.frames)
            check(rec, built)
            if not target.exists():
                tmp = out / f".tmp-{rec['name']}"
                shutil.rmtree(tmp, ignore_errors=True)
                write_sequence(rec, built, tmp)
                target.parent.mkdir(exist_ok=True)
                tmp.rename(target)
                stats["built"] += 1
        stats["frames"] += rec["frame_count"]
        stats["with_boxes"] += rec["frames_with_boxes"]
    append_split(out, records)
    if record:
        manifest.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    ap.add_argument("--out", type=Path, required=True, help="corpus root to write")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--mirrors", type=Path, help="folder of git mirrors <owner>+<name>/repo")
    src.add_argument("--local", type=Path, help="folder of plain checkouts <owner>+<name>/")
    ap.add_argument("--only", nargs="+", help="build only these sequences")
    ap.add_argument("--record", action="store_true",
                    help="write frame counts and hashes into the manifest instead of checking them")
    args = ap.parse_args(argv)
    try:
        stats = build(args.manifest, args.out, args.mirrors, args.local, args.only, args.record)
    except CorpusError as err:
        print(f"build_real_corpus: {err}", file=sys.stderr)
        return 2
    print(f"{stats['built']} sequences built, {stats['verified']} verified on disk; "
          f"{stats['frames']} frames, {stats['with_boxes']} with boxes -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
