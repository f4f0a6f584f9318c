"""TEST FIXTURE, not the real vision_msgs: an interface package named ``vision_msgs`` holding only the
messages the tracker publishes, written from the vision_msgs 4.x layout that
langtrack_ros/adapters/definitions.py spells out (VISION_MSGS_4, also what the DDS path sends).

vision_msgs is not on PyPI, so the real-node tests build this stand-in with the ROS 2 wheels'
rosidl tools (scripts/build_ros_msgs.py) into build/ros/fixtures, outside .venv: the venv stays
without vision_msgs (the node must then run without ``detections``), and the one test that wants
``detections`` puts this prefix on PYTHONPATH / LD_LIBRARY_PATH of its node process.

    python test/vision_msgs_fixture.py     # scripts/setup.sh --dev runs it; cached
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "build" / "ros" / "fixtures"
PREFIX = ROOT / "install"
PACKAGE_XML = """<?xml version="1.0"?>
<package format="3">
  <name>vision_msgs</name>
  <version>4.0.0</version>
  <description>langtrack TEST FIXTURE: the vision_msgs 4.x messages langtrack publishes, not the real package.</description>
  <maintainer email="dev@langtrack.invalid">langtrack developers</maintainer>
  <license>Apache-2.0</license>
  <buildtool_depend>ament_cmake</buildtool_depend>
  <buildtool_depend>rosidl_default_generators</buildtool_depend>
  <depend>std_msgs</depend>
  <depend>geometry_msgs</depend>
  <exec_depend>rosidl_default_runtime</exec_depend>
  <member_of_group>rosidl_interface_packages</member_of_group>
  <export><build_type>ament_cmake</build_type></export>
</package>
"""
CMAKE = """cmake_minimum_required(VERSION 3.8)
project(vision_msgs)
find_package(ament_cmake REQUIRED)
find_package(rosidl_default_generators REQUIRED)
find_package(std_msgs REQUIRED)
find_package(geometry_msgs REQUIRED)
rosidl_generate_interfaces(${{PROJECT_NAME}}
{files}
  DEPENDENCIES std_msgs geometry_msgs
)
ament_package()
"""


def write_package(dest: Path) -> Path:
    """The fixture's sources under ``dest/vision_msgs`` (rewritten only when they change)."""
    from langtrack_ros.adapters.definitions import VISION_MSGS_4

    pkg = dest / "vision_msgs"
    files = {"package.xml": PACKAGE_XML}
    for typename, text in VISION_MSGS_4.items():
        files[f"msg/{typename.rsplit('/', 1)[1]}.msg"] = text
    msgs = "\n".join(f'  "{name}"' for name in sorted(files) if name.endswith(".msg"))
    files["CMakeLists.txt"] = CMAKE.format(files=msgs)
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    return pkg


def env() -> dict[str, str]:
    """What a node process needs to import the fixture (on top of the venv's own environment)."""
    import os

    site = PREFIX / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "LD_LIBRARY_PATH": os.pathsep.join([str(PREFIX / "lib"), os.environ.get("LD_LIBRARY_PATH", "")])}


def main() -> int:
    sys.path.insert(0, str(REPO / "scripts"))
    import build_ros_msgs

    source = write_package(ROOT / "src")
    return build_ros_msgs.main([str(source), "--prefix", str(PREFIX), "--build-dir", str(ROOT / "build")])


if __name__ == "__main__":
    sys.exit(main())
