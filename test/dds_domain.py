"""DDS domain ids for the tests, drawn at random (per test; per process for test/ros_nodes.py)
from a range each test file owns: 1..40 console, 40..140 faults, 140..155 dds, 155..170
reliability, 170..230 the rclpy tests.

Why not the process id: CI runs in containers, where fresh pytest processes get the same small
pids, and two runs on one host (sharing its loopback) then meet on one domain and read each
other's topics (a trainer test once saw another run's progress and stopped its own node before it
had started). A random draw per test, plus a per-run namespace tag, keeps such runs apart.
"""
import random
import secrets

RUN_TAG = secrets.token_hex(3)  # appended to ROS namespaces/topics of this pytest run


def domain_in(lo: int, hi: int) -> int:
    """A domain id in [lo, hi) (Fast DDS and Cyclone accept 0..232)."""
    return random.SystemRandom().randrange(lo, hi)
