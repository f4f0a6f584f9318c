"""Root of the repo is the ament_python package ``langtrack_ros``.

The same file serves ``colcon build`` on a ROS machine and ``pip install`` on a machine without
ROS: config, launch files and the embedded model are installed as data files under
``share/langtrack_ros`` (the ament convention), and ``langtrack_ros.paths`` finds them there or in
a source checkout.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "langtrack_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*.*")),
        (f"share/{PACKAGE}/models/vlt", glob("models/vlt/*.*")),
        (f"share/{PACKAGE}/models/vlt/ablation", glob("models/vlt/ablation/*.*")),
        (f"share/{PACKAGE}/msg", glob("langtrack_msgs/msg/*.msg")),
        (f"share/{PACKAGE}/srv", glob("langtrack_msgs/srv/*.srv")),
    ],
    install_requires=["numpy", "pyyaml"],
    zip_safe=True,
    maintainer="langtrack developers",
    description="Language-only visual tracking (MVLM) and VLT training for ROS 2 robots",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "langtrack = langtrack_ros.cli:main",
            "tracker_node = langtrack_ros.ros.tracker_node:main",
            "trainer_node = langtrack_ros.ros.trainer_node:main",
        ],
    },
)
