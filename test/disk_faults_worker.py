"""Runs the writing commands against a full and a read-only filesystem; prints one JSON report.

Started by test_reliability.py inside ``unshare -rm`` (a private mount namespace: no root, nothing
outside this process sees the mounts) after mounting two small tmpfs: ``FULL`` (filled up to
``free`` bytes before each case) and ``RO`` (read-only). Every command runs in this one process
through ``cli.main`` (imports paid once); what escapes ``main`` is recorded as a traceback.

    python disk_faults_worker.py WORK FULL RO
"""
import io
import json
import logging
import shutil
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def fill(folder: Path, free: int) -> None:
    """Leave about ``free`` bytes on the filesystem of ``folder`` (tmpfs allocates whole pages)."""
    for p in folder.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    _fill_up(folder)
    filler = folder / "filler"
    size = filler.stat().st_size
    with open(filler, "r+b") as f:
        f.truncate(max(0, size - free))


def run_cli(argv: list[str], log: io.StringIO) -> dict:
    from langtrack_ros.cli import main

    import time

    log.seek(0)
    log.truncate()
    start = time.perf_counter()
    try:
        rc = main(argv)
        crash = ""
    except BaseException:  # noqa: BLE001 - exactly what must not happen
        rc, crash = -1, traceback.format_exc()
    errors = [line for line in log.getvalue().splitlines() if " ERROR " in line]
    return {"rc": rc, "errors": errors, "crash": crash, "seconds": round(time.perf_counter() - start, 1)}


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != "filler")


def train_until_full(run_dir: Path, full: Path) -> dict:
    """The tiny trainer of test_training.py; the disk fills up right after its first checkpoint."""
    import test_training
    from langtrack_ros.files import WriteError

    class FillsUp(test_training.Trainer):
        def save_checkpoint(self):
            path = super().save_checkpoint()
            _fill_up(full)  # another process takes the rest of the disk
            return path

    trainer = test_training.make_trainer(run_dir, cls=FillsUp)
    try:
        trainer.train()
        return {"error": "", "crash": ""}
    except WriteError as exc:
        from langtrack_ros.training import checkpoint as ckpt

        good = ckpt.latest_checkpoint(run_dir)
        model = torch_model_like(trainer)
        ckpt.load_training_state(good, *model)  # the kept checkpoint loads (verified by its manifest)
        return {"error": str(exc), "crash": "", "kept": good.name, "files": listing(run_dir)}
    except BaseException:  # noqa: BLE001
        return {"error": "", "crash": traceback.format_exc()}


def _fill_up(full: Path) -> None:
    """Take every free byte of the filesystem (the run folder is left as it is)."""
    filler = full / "filler"
    with open(filler, "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def torch_model_like(trainer):
    import torch

    model = type(trainer.model)(trainer.model.cfg, pretrained_tokenizer=False)
    return model, torch.optim.AdamW(model.parameters())


def main() -> None:
    work, full, ro = (Path(a) for a in sys.argv[1:4])
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    import test_faults

    import test_commands
    import torch

    from langtrack_ros.tracking.network import MVLM
    from langtrack_ros.model_files import save_model
    from packaged import mvlm_config

    factory = f"{HERE / 'colour_tracker.py'}:make"
    bag = test_faults._bag(work / "bag", frames=30)
    model, video = work / "tiny.safetensors", work / "clip.mp4"
    test_commands._write_video(video, 40)
    torch.manual_seed(0)
    cfg = mvlm_config(search_size=64, width=32, depth=1, heads=2, tokenizer="patch", head_channels=8)
    save_model(MVLM(cfg, pretrained_tokenizer=False), cfg, model)
    report = {}
    cases = {
        "track": lambda out: ["track", "--video", str(video), "--query", "the red square", "--out", str(out),
                              "--model", str(model), "--backend", "torch", "--no-stdin"],
        "replay": lambda out: ["replay", "--bag", str(bag), "--out", str(out), "--tracker-factory", factory],
        "export": lambda out: ["export", "--model", str(model), "--out", str(out)],
    }
    free = {"track": 10000, "replay": 20000, "export": 20000}
    # the exporter's own file write, without the 10-20 s of tracing a model: 1 MB through
    # torch.onnx.export's call site, so the real wrapping (ExportError from OSError) is what fails
    torch.onnx.export = lambda module, args, path, *a, **k: Path(path).write_bytes(bytes(1 << 20))
    for name, argv in cases.items():
        fill(full, free[name])
        out = full / name
        report[f"{name}-full"] = {**run_cli(argv(out), log), "files": listing(full)}
        if name == "track" and (out / "results.jsonl").is_file():
            report["track-full"]["results"] = (out / "results.jsonl").read_text()
        report[f"{name}-readonly"] = {**run_cli(argv(ro / name), log), "files": listing(ro)}
    fill(full, 10 ** 9)  # empty again: the trainer fills it itself after its first checkpoint
    report["train-full"] = train_until_full(full / "run", full)
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    main()
