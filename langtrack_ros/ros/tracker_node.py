"""The tracker as a ROS 2 lifecycle node (rclpy): a thin adapter over TrackingSession.

Transitions: configure declares nothing new but builds the tracker from the parameters (model
load); activate subscribes and starts publishing; deactivate unsubscribes and frees the model
(GPU memory) so another node can use the device; activate after that loads it again.
With ``autostart`` (config/tracker_node.yaml) the node configures and activates itself.

Topics (relative, so namespaces and remaps work): subscribes ``image``, ``image/compressed``,
``query`` (twice: reliable, and transient-local for a query sent once before we matched);
publishes ``target``, ``relocalization``, ``detections`` (only where vision_msgs is installed) and,
when ``publish_debug_image`` is set, ``debug_image``. Service ``set_query`` (langtrack_msgs/SetQuery).
A failed configure or activate is logged with its reason; with ``autostart`` the process then exits 1.
Only ``gate.*`` parameters change at run time; the others apply at the next configure.
"""
from __future__ import annotations

import sys

import rclpy
import rclpy.executors
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from langtrack_ros.config import ConfigError
from langtrack_ros.ros.messages import rclpy_array, ros_class
from langtrack_ros.adapters import conversions as conv
from langtrack_ros.adapters import parameters as params
from langtrack_ros.adapters import topics
from langtrack_ros.adapters.image_codec import decode_compressed, encode_image, image_fields_to_rgb
from langtrack_ros.adapters.overlay import annotate
from langtrack_ros.adapters.session import QueryOnce, TrackingSession, is_twin
from langtrack_ros.builder import build_tracker
from langtrack_ros.console.runner import node_console

QUERY_QOS = {  # topics.QUERY_QOS; "latched" matches `ros2 topic pub` (reliable, transient local, depth 1)
    "reliable": QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE),
    "latched": QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL),
}
IMAGE_RELIABILITY = {"sensor_data": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def image_qos(preset: str) -> QoSProfile:
    """Newest frame only (depth 1); BEST_EFFORT matches both camera and reliable publishers."""
    if preset not in IMAGE_RELIABILITY:
        raise ConfigError(f"image_qos must be one of {sorted(IMAGE_RELIABILITY)}, got {preset!r}")
    return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=IMAGE_RELIABILITY[preset],
                      durability=DurabilityPolicy.VOLATILE)


def _descriptor(key: str) -> ParameterDescriptor:
    """A fresh descriptor per parameter: rclpy writes the name and type into the object it is
    given, so one shared descriptor would end up describing only the last parameter."""
    about = "MVLM gate: changes apply to the next frame" if key.startswith(params.RUNTIME_PREFIX) else ""
    return ParameterDescriptor(description=about, dynamic_typing=True)


class TrackerNode(LifecycleNode):
    def __init__(self, name: str = params.NODE, **kwargs):
        super().__init__(name, **kwargs)
        # dynamic_typing: a YAML or `ros2 param set` value of 0 for a float parameter (tau: 0) must not
        # crash the node; the core's typed config coerces and validates instead.
        defaults = params.declared_defaults()
        self.keys = tuple(defaults)
        for key, value in defaults.items():
            self.declare_parameter(key, value, _descriptor(key))
        self.add_on_set_parameters_callback(self._on_parameters)
        self.session: TrackingSession | None = None
        self.subscriptions_: list = []
        self.publishers_: dict = {}
        self.service = None
        self.last_frame: tuple[str, tuple[int, int]] | None = None  # (transport, stamp) of the last frame
        self.query = ""  # the sentence in force; survives deactivate/activate
        self.make = ros_class
        self.console = node_console(self.values(), self._apply_query, self.get_logger().error)  # off by default
        self.last_error = ""  # the last frame error logged (repeats are throttled)
        self.queries = QueryOnce()  # across activations: a latched query is applied once
        self.warned: set[str] = set()  # warnings already given (a missing optional package)

    # --- parameters ----------------------------------------------------------------------------
    def values(self) -> dict:
        return {key: self.get_parameter(key).value for key in self.keys}

    def _on_parameters(self, changes) -> SetParametersResult:
        try:
            gate = params.gate_changes(self.values(), {p.name: p.value for p in changes})
        except (ConfigError, TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if gate is not None and self.session is not None:
            self.session.tracker.gate_cfg = gate
            self.get_logger().info(f"gate updated: {gate}")
        return SetParametersResult(successful=True)

    # --- lifecycle -----------------------------------------------------------------------------
    def _load(self) -> None:
        values = self.values()
        tracker = build_tracker(params.tracker_settings(values, f"parameters of {self.get_name()}"))
        self.session = TrackingSession(tracker, self.query or values["initial_query"])
        if self.console is not None:  # its frames also reach the operator page
            self.session = self.console.watch(self.session)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            image_qos(self.get_parameter("image_qos").value)
            self._open_outputs()  # a missing interface package fails here, before the slow model load
            self._load()
        except Exception as exc:  # a bad model, config or missing interface package fails the transition
            self._close_outputs()
            self._free()
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"configured: tracker {self.session.tracker.name}")
        return TransitionCallbackReturn.SUCCESS

    def _open_outputs(self) -> None:
        """Publishers and the SetQuery service. langtrack_msgs is required; vision_msgs only adds
        ``detections`` (it is not on PyPI): without it, one warning names the package to install."""
        publish = self.create_lifecycle_publisher
        for topic, ros_type in topics.OUTPUTS.items():
            try:
                kind = self.make(ros_type)
            except ImportError as exc:
                if topic != topics.DETECTIONS:
                    raise
                self._warn_once(f"no `{topic}` topic: {ros_type} is not importable ({exc}); "
                                f"install ros-$ROS_DISTRO-vision-msgs to publish it")
                continue
            self.publishers_[topic] = publish(kind, topic, 10)
        if self.get_parameter("publish_debug_image").value:
            self.publishers_.update({t: publish(self.make(kind), t, 1) for t, kind in topics.DEBUG.items()})
        set_query = self.make("langtrack_msgs/srv/SetQuery")
        self.service = self.create_service(set_query, topics.SET_QUERY, self._on_set_query)

    def _warn_once(self, why: str) -> None:
        if why not in self.warned:
            self.warned.add(why)
            self.get_logger().warning(why)

    def _close_outputs(self) -> None:
        for publisher in self.publishers_.values():
            self.destroy_lifecycle_publisher(publisher)
        self.publishers_ = {}
        if self.service is not None:
            self.destroy_service(self.service)
            self.service = None

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            if self.session is None:  # freed by deactivate: load again
                self._load()
            self._subscribe()
        except Exception as exc:
            self._unsubscribe()
            self.get_logger().error(f"activate failed: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.FAILURE
        return super().on_activate(state)

    def _subscribe(self) -> None:
        qos = image_qos(self.get_parameter("image_qos").value)
        self.subscriptions_ = [
            self.create_subscription(self.make(topics.INPUTS[topics.IMAGE]), topics.IMAGE, self._on_image, qos),
            self.create_subscription(self.make(topics.INPUTS[topics.COMPRESSED]), topics.COMPRESSED,
                                     self._on_compressed, qos),
        ]
        # a volatile publisher is incompatible with the latched reader, by design: no warning for it
        quiet = SubscriptionEventCallbacks(incompatible_qos=lambda _event: None)
        self.subscriptions_ += [
            self.create_subscription(self.make(topics.INPUTS[topics.QUERY]), topics.QUERY, self._on_query_sample,
                                     QUERY_QOS[name], event_callbacks=quiet if name == "latched" else None)
            for name in topics.QUERY_QOS]

    def _unsubscribe(self) -> None:
        for sub in self.subscriptions_:
            self.destroy_subscription(sub)
        self.subscriptions_ = []

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._free()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._close_outputs()
        self._free()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._free()
        return TransitionCallbackReturn.SUCCESS

    def _free(self) -> None:
        """Drop the tracker and give cached GPU memory back (torch keeps it otherwise)."""
        if self.session is not None:
            self.query = self.session.query
        self.session = None
        self.last_frame = None
        torch = sys.modules.get("torch")  # only if a backend imported it
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    # --- data ----------------------------------------------------------------------------------
    def _apply_query(self, text: str) -> tuple[bool, str]:
        """Switch target; while inactive the sentence is kept and applied at the next activate."""
        if self.session is None:
            if not (text or "").strip():
                return False, "empty query ignored"
            self.query = text.strip()
            return True, "tracker inactive: query kept for the next activation"
        accepted, why = self.session.set_query(text)
        if accepted:
            self.query = self.session.query
        return accepted, why

    def _on_query_sample(self, msg, info) -> None:
        if self.queries.first(info["source_timestamp"], msg.data):
            self._on_query(msg)

    def _on_query(self, msg) -> None:
        accepted, why = self._apply_query(msg.data)
        # rclpy binds one severity to each call site: two outcomes need two call sites
        if accepted:
            self.get_logger().info(why)
        else:
            self.get_logger().warning(why)

    def _on_set_query(self, request, response):
        response.accepted, response.message = self._apply_query(request.query)
        return response

    def _fresh(self, transport: str, header) -> bool:
        """False for the twin of the frame just tracked (see session.is_twin)."""
        current, last = (transport, (header.stamp.sec, header.stamp.nanosec)), self.last_frame
        self.last_frame = current
        return not is_twin(last, current)

    def _on_image(self, msg) -> None:
        if self.session is not None and self._fresh("raw", msg.header):
            self._track(lambda: image_fields_to_rgb(msg), msg.header)

    def _on_compressed(self, msg) -> None:
        if self.session is not None and self._fresh("compressed", msg.header):
            self._track(lambda: decode_compressed(msg.format, bytes(msg.data)), msg.header)

    def _track(self, decode, header) -> None:
        outputs = self.session.process(decode, header, self._frame_error)
        if outputs is None:
            return
        try:
            self._publish(outputs, header)
        except Exception as exc:  # noqa: BLE001 - an exception here would stop rclpy.spin: the whole node
            self._frame_error(f"publishing failed ({type(exc).__name__}: {exc}); results of this frame dropped")

    def _publish(self, outputs, header) -> None:
        for topic, ros_type, fields in outputs.messages():
            if topic not in self.publishers_:  # `detections` without vision_msgs
                continue
            self.publishers_[topic].publish(conv.build(ros_type, fields, self.make, rclpy_array))
        if topics.DEBUG_IMAGE in self.publishers_:
            overlay = encode_image(annotate(outputs.image, outputs.result, self.session.query), "rgb8")
            self.publishers_[topics.DEBUG_IMAGE].publish(
                conv.build(topics.DEBUG[topics.DEBUG_IMAGE], {**overlay, "header": header}, self.make, rclpy_array))

    def _frame_error(self, why: str) -> None:
        """Every new reason gets its line; the same reason again (a broken camera) is throttled.
        rclpy binds the throttle to the call site, hence two call sites."""
        if why != self.last_error:
            self.last_error = why
            self.get_logger().error(why)
        else:
            self.get_logger().error(why, throttle_duration_sec=5.0)


def autostart(node: TrackerNode) -> bool:
    """configure + activate; False when either fails (the node has logged why)."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS


def main(args=None) -> int:
    """Spin until shut down. With autostart, a failed configure/activate ends the process with
    status 1, so a supervisor (``ros2 launch`` with respawn, systemd) sees it instead of a silent node."""
    rclpy.init(args=args)
    node = TrackerNode()
    status = 0
    try:
        if node.get_parameter("autostart").value and not autostart(node):
            node.get_logger().fatal("autostart failed (reason above); exiting with status 1")
            status = 1
        else:
            rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
