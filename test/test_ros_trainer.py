"""The trainer node for real: ``trainer_node`` (rclpy) runs a tiny MVLM training job, publishes
langtrack_msgs/TrainingProgress, stops on Ctrl-C with a checkpoint, and a second node resumes
from that checkpoint."""
import re
import signal

import pytest
import yaml

from ros_nodes import RUN_TAG, NodeProcess, Probe

from langtrack_msgs.msg import TrainingProgress  # noqa: E402

pytestmark = pytest.mark.timeout(150)
NS = f"/lt_train_{RUN_TAG}"  # progress seen here must come from this run's node
TINY = {  # a model and run small enough for seconds on a CPU; the packaged table fills in the rest
    "seed": 1, "threads": 1,
    "model": {"preset": "tiny", "pretrained_tokenizer": False,
              "overrides": {"search_size": 64, "width": 32, "depth": 1, "heads": 2, "tokenizer": "patch",
                            "head_channels": 16, "template_size": 32}},
    "data": {"seed": 3, "sources": [{"kind": "synth"}], "val_sources": [], "val_samples": 0, "num_workers": 0},
    "optim": {"steps": 400, "batch_size": 2, "warmup_steps": 0},
    "checkpoint": {"every": 100, "keep": 2},
    "logging": {"every": 1, "val_every": 0, "progress": False},
}


def _run_until_progress(tmp_path, probe, reports, resume: bool, min_step: int) -> NodeProcess:
    node = NodeProcess("langtrack_ros.ros.trainer_node",
                       ["-r", f"__ns:={NS}", "-p", f"config:={tmp_path / 'tiny.yaml'}",
                        "-p", f"run_dir:={tmp_path / 'run'}", "-p", f"resume:={str(resume).lower()}",
                        "-p", "progress_period:=0.1"])
    seen = lambda: any(r.step >= min_step for r in reports)  # noqa: E731
    assert probe.until(seen, 90), f"no progress past step {min_step}\n{node.log()}"
    return node


def test_trainer_node_progress_stop_and_resume(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    probe = Probe("langtrack_train_probe")
    try:
        reports = probe.collect(TrainingProgress, f"{NS}/training_progress")
        first = _run_until_progress(tmp_path, probe, reports, resume=False, min_step=1)
        assert first.stop(signal.SIGINT) == 0, first.log()
        stopped = re.search(r"stopped at step (\d+); checkpoint written", first.log())
        assert stopped, first.log()
        at = int(stopped[1])
        done = [r for r in reports if r.step > 0]
        assert done and all(r.stage == "mvlm" and r.total_steps == 400 for r in done)
        assert [r.step for r in done] == sorted(r.step for r in done) and done[-1].step <= at

        reports.clear()
        second = _run_until_progress(tmp_path, probe, reports, resume=True, min_step=at + 1)
        assert min(r.step for r in reports if r.step > 0) >= at  # went on from the checkpoint, not from 0
        assert second.stop(signal.SIGINT) == 0, second.log()
        assert "checkpoint written" in second.log()
    finally:
        probe.close()
