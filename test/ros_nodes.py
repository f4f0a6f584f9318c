"""Real ROS 2 for the tests: rclpy and Fast DDS from the PyPI wheels that ``scripts/setup.sh --dev``
installs into .venv (requirements-ros.txt), langtrack_msgs built by scripts/build_ros_msgs.py.

Every test run gets its own ROS_DOMAIN_ID and discovery stays on this host, so parallel runs (and
other people's robots on the network) never see each other. Node processes are started with the
venv's own interpreter: ros-wheels-bootstrapper has already put the ROS libraries on its
LD_LIBRARY_PATH, and the children inherit it.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dds_domain import RUN_TAG, domain_in

SETUP_HINT = "run `bash scripts/setup.sh --dev` (installs requirements-ros.txt and builds langtrack_msgs into .venv)"
WHEELS_EXIST = sys.platform == "linux" and platform.machine() == "x86_64"  # PyPI has no other ROS 2 wheels
try:
    import rclpy
    from langtrack_msgs.msg import TrackedTarget  # noqa: F401 - built by the setup step
except ImportError as exc:
    if not WHEELS_EXIST:  # the README's setup could not have installed it (and said so)
        pytest.skip(f"ROS 2 wheels exist on PyPI for Linux x86_64 only ({exc})", allow_module_level=True)
    pytest.fail(f"ROS 2 tier missing ({exc}): {SETUP_HINT}", pytrace=False)  # never a skip where it can run

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

HERE = Path(__file__).parent
REPO = HERE.parent
DOMAIN = domain_in(170, 230)  # Fast DDS takes 0..232; the Cyclone-only tests draw from 1..169
LOG_DIR = tempfile.mkdtemp(prefix="langtrack-ros-log-")
# config/fastdds.xml for every Fast DDS participant here: Fast DDS reads the profile file once per
# process, and test_ros_interop.py needs it (Fast DDS -> Cyclone images); it changes nothing else.
ENV = {"ROS_DOMAIN_ID": str(DOMAIN), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_LOG_DIR": LOG_DIR,
       "RCUTILS_LOGGING_BUFFERED_STREAM": "0", "PYTHONUNBUFFERED": "1",
       "FASTDDS_DEFAULT_PROFILES_FILE": str(REPO / "config" / "fastdds.xml")}
os.environ.update(ENV)  # this process's own rclpy context, and every child
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class NodeProcess:
    """A node executable (``python -m module --ros-args ...``) with its log in a file; ``ros=False``:
    plain arguments (``langtrack dds``)."""

    def __init__(self, module: str, args: list[str], env: dict | None = None, ros: bool = True):
        self.log_path = Path(tempfile.mkstemp(prefix="node-", suffix=".log", dir=LOG_DIR)[1])
        with self.log_path.open("w") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", module, *(["--ros-args"] if ros else []), *args],
                                         env={**os.environ, **(env or {})}, cwd=REPO, stdout=out,
                                         stderr=subprocess.STDOUT)
        self.signalled = False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 60) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.log():
                return True
            if self.proc.poll() is not None:
                return text in self.log()
            time.sleep(0.1)
        return False

    def signal(self, sig=subprocess.signal.SIGINT) -> None:
        if self.proc.poll() is None and not self.signalled:
            self.proc.send_signal(sig)
            self.signalled = True

    def stop(self, sig=subprocess.signal.SIGINT, timeout: float = 20) -> int:
        """Signal (unless already done) and wait; kill after ``timeout`` s. Returns the exit status."""
        self.signal(sig)
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Probe:
    """The test's own rclpy node: publishers, collecting subscriptions and service calls."""

    def __init__(self, name: str = "langtrack_probe"):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=DOMAIN)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def collect(self, msg_type, topic: str, qos=RELIABLE) -> list:
        into: list = []
        self.node.create_subscription(msg_type, topic, into.append, qos)
        return into

    def spin(self, seconds: float) -> None:
        self.until(lambda: False, seconds)

    def until(self, done, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not done():
            self.executor.spin_once(timeout_sec=0.02)
        return bool(done())

    def call(self, srv_type, name: str, request, timeout: float = 20):
        client = self.node.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"service {name} never appeared"
            future = client.call_async(request)
            assert self.until(future.done, timeout), f"service {name} did not answer in {timeout} s"
            return future.result()
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
