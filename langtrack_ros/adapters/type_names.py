"""ROS type names of the messages langtrack reads and writes: plain strings, no imports, so the
launch files can read the topic table without loading rosbags (layouts: adapters/definitions.py)."""

PACKAGE = "langtrack_msgs"
TRACKED_TARGET = "langtrack_msgs/msg/TrackedTarget"
RELOCALIZATION_EVENT = "langtrack_msgs/msg/RelocalizationEvent"
TRAINING_PROGRESS = "langtrack_msgs/msg/TrainingProgress"
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
STRING = "std_msgs/msg/String"
DETECTION2D_ARRAY = "vision_msgs/msg/Detection2DArray"
