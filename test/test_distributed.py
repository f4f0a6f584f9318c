"""Data-parallel training with torchrun + DDP (gloo on this CPU) equals a single process with the
same global batch, and a killed run resumes with another world size (plus gradient accumulation)
to the same weights. One torchrun launch (~15 s here) keeps this cheap enough for CI."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from langtrack_ros.training import checkpoint as ckpt
from langtrack_ros.training.distributed import RankStepBatches, check_divisible
from langtrack_ros.commands.train import _argv_without_nproc
from test_training import make_trainer

HERE = Path(__file__).resolve().parent
ATOL = 1e-5  # float reassociation (split batches, all-reduce); measured 2.7e-7, one step moves ~5e-4


def _close(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _step_weights(run_dir: Path, step: int) -> dict:
    from safetensors.torch import load_file

    return load_file(str(ckpt.checkpoint_dir(run_dir, step) / "model.safetensors"))


def test_rank_slices_cover_the_global_batch_once():
    slices = [list(RankStepBatches(2, 4, 8, r, 4)) for r in range(4)]
    for k in range(2):
        got = sorted(i for r in range(4) for i in slices[r][k])
        assert got == list(range((k + 2) * 8, (k + 3) * 8))
    with pytest.raises(ValueError, match="not divisible"):
        check_divisible(6, 4, 1)
    assert _argv_without_nproc(["train", "mvlm", "--nproc", "2", "--steps=3", "--nproc=4"]) == \
        ["train", "mvlm", "--steps=3"]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_torchrun_two_ranks_equal_single_process_and_resume(tmp_path):
    single = make_trainer(tmp_path / "single")
    assert single.train().completed  # checkpoints at steps 3 and 6 (every 3)
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_worker.py"), str(run), "--crash-after", "4"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0, "rank 0 was meant to die after step 4"
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [3], proc.stderr[-2000:]
    assert _close(_step_weights(run, 3), _step_weights(tmp_path / "single", 3)) < ATOL
    assert len(list((run / "tb").glob("events.*"))) == 1  # rank 0 alone writes TensorBoard
    # resume the 2-process run in ONE process with 2 accumulation steps: same global batch of 4
    resumed = make_trainer(run, resume=True, accum_steps=2)
    assert resumed.step == 3 and resumed.train().completed
    final = ckpt.load_model(run / "model.safetensors").state_dict()
    assert _close(final, single.model.state_dict()) < ATOL
