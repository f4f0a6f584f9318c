"""langtrack: language-only visual tracking (MVLM) and VLT training, with thin ROS 2 adapters.

Everything outside ``langtrack_ros.ros`` and ``langtrack_ros.dds`` is the ROS-free core: it takes
numpy images and strings and returns plain results.
"""
__version__ = "0.1.0"
