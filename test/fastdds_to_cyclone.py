"""One process, two vendors: an rclpy (Fast DDS) publisher and a Cyclone DDS reader of
sensor_msgs/Image on one domain; prints how many of 5 images the reader got. test_ros_interop.py
runs it with and without config/fastdds.xml (Fast DDS reads that file once per process).

    python test/fastdds_to_cyclone.py DOMAIN BYTES
"""
import sys
import time

import rclpy
from sensor_msgs.msg import Image

from langtrack_ros.adapters import definitions as defs
from langtrack_ros.dds.transport import Endpoints


def main(domain: int, size: int) -> None:
    rclpy.init(domain_id=domain)
    node = rclpy.create_node("langtrack_vendor_probe")
    publisher = node.create_publisher(Image, "/vendor_probe", 10)
    reader = Endpoints(domain).reader("/vendor_probe", defs.IMAGE, "reliable")
    end = time.monotonic() + 20
    while time.monotonic() < end and not publisher.get_subscription_count():
        rclpy.spin_once(node, timeout_sec=0.1)
    end = time.monotonic() + 5  # Cyclone's side: without the profile it never matches (type object refused)
    while time.monotonic() < end and not reader.get_matched_publications():
        time.sleep(0.1)
    time.sleep(0.5)
    got = 0
    for i in range(5):
        publisher.publish(Image(height=1, width=size, step=size, encoding="mono8", data=bytes(size)))
        time.sleep(0.2)
        got += len([m for m in reader.take(10) if hasattr(m, "header")])
    print(f"received {got} of 5")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
