"""Root of the repo is the ament_python package ``langtrack_ros``.

The same file serves ``colcon build`` on a ROS machine and ``pip install`` on a machine without
ROS: config, launch files and the embedded model are installed as data files under
``share/langtrack_ros`` (the ament convention), and ``langtrack_ros.paths`` finds them there or in
a source checkout.
"""
import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "langtrack_ros"


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries for every file under ``folder`` (models/ has sub-folders: priors/, ...)."""
    return [(f"share/{PACKAGE}/{root}", [os.path.join(root, f) for f in files])
            for root, _, files in sorted(os.walk(folder)) if files]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={f"{PACKAGE}.console": ["static/*"]},  # the operator console's page: served by the process
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        *tree("models"),
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
