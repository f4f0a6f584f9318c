"""Offline training as a ROS 2 node: runs the same job as ``langtrack train mvlm|vlt`` in a thread and
publishes langtrack_msgs/TrainingProgress on ``training_progress`` (stage "mvlm", "vlt-supernet",
"vlt-search" or "vlt-retrain"; epoch stays 0: the jobs count steps, or generations for the search,
whose "loss" field carries the best fitness so far).

Parameters (declared from config/trainer_node.yaml, their one table of defaults): ``config``
(training YAML) and ``run_dir`` (checkpoints, logs), both required, ``model`` (mvlm | vlt),
``stage`` (vlt: supernet | search | retrain), ``resume`` (continue from the newest checkpoint),
``export`` (also write the final model there), ``progress_period`` (s). Checkpoints are written atomically by the
trainer, so a killed node resumes with ``resume:=true``. Shutting the node down asks the trainer to
finish its step and write a checkpoint.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import rclpy
import rclpy.executors
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from langtrack_ros.ros.messages import ros_class
from langtrack_ros.adapters import conversions as conv
from langtrack_ros.adapters import definitions as defs
from langtrack_ros.adapters import parameters as params
from langtrack_ros.adapters import topics
from langtrack_ros.adapters.progress import ProgressMeter

NODE = "langtrack_trainer"


class TrainerNode(Node):
    def __init__(self):
        super().__init__(NODE)
        for key, value in params.declared_defaults(("trainer_node",), NODE).items():
            # launch passes `progress_period:=2` as an int: accept any number, use it as seconds
            typing = ParameterDescriptor(dynamic_typing=isinstance(value, float))
            self.declare_parameter(key, value, typing)
        self.publisher = self.create_publisher(ros_class(defs.TRAINING_PROGRESS), topics.TRAINING_PROGRESS, 10)
        self.meter = ProgressMeter()
        model, stage = self.get_parameter("model").value, self.get_parameter("stage").value
        self.stage = f"vlt-{stage}" if model == "vlt" else model
        self.trainer = None
        self.outcome: str | None = None
        self.stop_requested = threading.Event()  # set by stop(), also before the trainer exists
        self.thread = threading.Thread(target=self._train, name="trainer", daemon=True)
        self.timer = self.create_timer(float(self.get_parameter("progress_period").value), self._publish)

    def _job(self):
        from langtrack_ros.training.trainer import Trainer, load_train_config

        config, run_dir = (self.get_parameter(name).value for name in ("config", "run_dir"))
        if not config or not run_dir:
            raise ValueError("parameters 'config' (training YAML) and 'run_dir' (checkpoints) are required")
        export = self.get_parameter("export").value or None
        resume = bool(self.get_parameter("resume").value)
        model = self.get_parameter("model").value
        if model == "vlt":
            from langtrack_ros.vlt.jobs import build_vlt_job

            return build_vlt_job(self.get_parameter("stage").value, Path(config), Path(run_dir), resume,
                                 export=export, on_progress=self.meter.update)
        if model != "mvlm":
            raise ValueError(f"parameter 'model' must be mvlm or vlt, got {model!r}")
        cfg = load_train_config(Path(config))
        return Trainer(cfg, Path(run_dir), resume=resume, export=export, on_progress=self.meter.update)

    def _train(self) -> None:
        try:
            self.trainer = self._job()
            if self.stop_requested.is_set():  # stopped while the job was being set up
                self.trainer.request_stop()
            result = self.trainer.train()
            self.outcome = (f"finished: model {result.model_path}" if result.completed
                            else f"stopped at step {result.step}; checkpoint written, resume with resume:=true")
        except Exception as exc:  # report on the topic too: a remote operator sees why it ended
            self.outcome = f"error: {exc}"
            self.get_logger().error(self.outcome)

    def _publish(self, message: str = "") -> None:
        snap = self.meter.snapshot()
        now = self.get_clock().now().to_msg()
        header = conv.header_fields(now.sec, now.nanosec, "")
        fields = conv.progress_fields(header, self.stage, 0, snap.step, snap.total_steps, snap.loss, snap.eta_sec,
                                      message or self.outcome or "")
        self.publisher.publish(conv.build(defs.TRAINING_PROGRESS, fields, ros_class))

    def stop(self) -> None:
        self.stop_requested.set()
        if self.trainer is not None:
            self.trainer.request_stop()
        self.thread.join()
        if rclpy.ok():
            self._publish()
            self.get_logger().info(self.outcome or "stopped")
        else:  # after Ctrl-C the context (and /rosout) is gone: rclpy's logger would add an error line
            print(f"[{NODE}] {self.outcome or 'stopped'}", file=sys.stderr, flush=True)


def main(args=None) -> None:
    rclpy.init(args=args)
    node = TrainerNode()
    node.thread.start()
    try:
        while rclpy.ok() and node.thread.is_alive():
            rclpy.spin_once(node, timeout_sec=0.2)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.stop()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
