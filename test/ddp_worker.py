"""One rank of a tiny torchrun training run (test_distributed.py): the toy data and hash text
encoder of test_training.py, so a run takes seconds on CPU with gloo.

    torchrun --standalone --nproc_per_node 2 test/ddp_worker.py RUN_DIR [--resume] [--crash-after K]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from test_training import make_trainer  # noqa: E402
from langtrack_ros.training import distributed  # noqa: E402
from langtrack_ros.training.trainer import Trainer  # noqa: E402


class CrashAfter(Trainer):
    """Rank 0 dies (an exception, as a crash) once ``crash_after`` steps have updated the weights."""

    crash_after = 0

    def _train_step(self, batch):
        parts = super()._train_step(batch)
        if self.dist.is_main and self.step + 1 == self.crash_after:
            raise SystemExit(3)
        return parts


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir", type=Path)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--crash-after", type=int, default=0)
    p.add_argument("--accum", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(1)
    CrashAfter.crash_after = args.crash_after
    trainer = make_trainer(args.run_dir, resume=args.resume, cls=CrashAfter, accum_steps=args.accum)
    result = trainer.train()
    distributed.shutdown(trainer.dist)
    return 0 if result.completed else 1


if __name__ == "__main__":
    sys.exit(main())
