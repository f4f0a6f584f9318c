"""Bag replay for real: write a bag with rosbags (camera + query topics, a mid-run query switch),
replay it through a tracker, and read the predictions and the result bag back."""
import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from colour_tracker import ColourTracker, frame
from langtrack_ros.cli import main as cli_main
from langtrack_ros.evaluation.bag_replay import replay_bag
from langtrack_ros.adapters import conversions as conv
from langtrack_ros.adapters import definitions as defs
from langtrack_ros.adapters.image_codec import encode_compressed, encode_image

FRAMES, SWITCH_AT = 10, 6
SECOND = 1_000_000_000


def write_input_bag(path, compressed_at=(3,)):
    """Frame 0 before any query; 'red' from frame 1; 'blue' from SWITCH_AT; some frames JPEG/BGR."""
    store = defs.typestore()
    make = lambda n: store.types[n]  # noqa: E731
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        images = writer.add_connection("/camera/image_raw", defs.IMAGE, typestore=store)
        packed = writer.add_connection("/camera/image_raw/compressed", defs.COMPRESSED_IMAGE, typestore=store)
        query = writer.add_connection("/query", defs.STRING, typestore=store)

        def say(text, t):
            writer.write(query, t, store.serialize_cdr(make(defs.STRING)(data=text), defs.STRING))

        for i in range(FRAMES):
            t = (i + 1) * SECOND
            if i == 1:
                say("the red square", t - 1)
            if i == SWITCH_AT:
                say("the blue square", t - 1)
            rgb, _ = frame(i)
            header = conv.header_fields(i, 0, "cam")
            if i in compressed_at:
                fields, conn, kind = {**encode_compressed(rgb, "png"), "header": header}, packed, defs.COMPRESSED_IMAGE
            else:
                fields = {**encode_image(rgb[..., ::-1].copy(), "bgr8"), "header": header}
                conn, kind = images, defs.IMAGE
            writer.write(conn, t, store.serialize_cdr(conv.build(kind, fields, make), kind))


def test_replay_writes_predictions_and_a_decodable_result_bag(tmp_path):
    bag = tmp_path / "run1"
    write_input_bag(bag, compressed_at=())
    summary = replay_bag(bag, tmp_path / "out", ColourTracker())
    assert (summary.frames, summary.tracked) == (FRAMES, FRAMES - 1)
    assert (summary.image_topic, summary.query_topic) == ("/camera/image_raw", "/query")
    boxes = np.loadtxt(summary.predictions, delimiter=",")
    assert np.isnan(boxes[0]).all()
    for i in range(1, FRAMES):
        np.testing.assert_array_equal(boxes[i], frame(i)[1]["red" if i < SWITCH_AT else "blue"])

    # A plain Humble typestore plus only what the bag itself carries must decode it.
    with AnyReader([summary.result_bag], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics == {"/target": defs.TRACKED_TARGET, "/relocalization": defs.RELOCALIZATION_EVENT,
                          "/detections": defs.DETECTION2D_ARRAY}
        msgs = [(c.topic, reader.deserialize(raw, c.msgtype)) for c, _, raw in reader.messages()]
    targets = [m for topic, m in msgs if topic == "/target"]
    assert [t.header.stamp.sec for t in targets] == list(range(1, FRAMES))
    assert targets[-1].query == "the blue square" and targets[-1].found
    assert [t.x for t in targets[:3]] == [frame(i)[1]["red"][0] for i in range(1, 4)]
    events = [(m.reason, m.query) for topic, m in msgs if topic == "/relocalization"]
    changed = defs.typestore().types[defs.RELOCALIZATION_EVENT].QUERY_CHANGED
    assert events == [(changed, "the red square"), (changed, "the blue square")]
    detection = [m for topic, m in msgs if topic == "/detections"][-1].detections[0]
    assert (detection.bbox.center.position.x, detection.bbox.size_y) == (46.0, 14.0)


def test_several_image_topics_need_a_choice_and_compressed_works(tmp_path):
    bag = tmp_path / "mixed"
    write_input_bag(bag, compressed_at=(3,))
    with pytest.raises(ValueError, match="several image topics"):
        replay_bag(bag, tmp_path / "a", ColourTracker())
    summary = replay_bag(bag, tmp_path / "b", ColourTracker(), image_topic="/camera/image_raw/compressed")
    assert (summary.frames, summary.tracked) == (1, 1)
    np.testing.assert_array_equal(np.loadtxt(summary.predictions, delimiter=","), frame(3)[1]["red"])
    with pytest.raises(ValueError, match="no image topic '/nope'"):
        replay_bag(bag, tmp_path / "c", ColourTracker(), image_topic="/nope")


def test_replay_command_with_tracker_factory(tmp_path, capsys):
    bag = tmp_path / "run2"
    write_input_bag(bag, compressed_at=())
    factory = f"{__import__('colour_tracker').__file__}:make"
    assert cli_main(["replay", "--bag", str(bag), "--out", str(tmp_path / "o"), "--tracker-factory", factory]) == 0
    assert f"{FRAMES} images on /camera/image_raw, {FRAMES - 1} tracked" in capsys.readouterr().out
    assert (tmp_path / "o" / "run2_tracked" / "metadata.yaml").is_file()
    assert cli_main(["replay", "--bag", str(bag), "--out", str(tmp_path / "o"), "--tracker-factory", factory]) == 2
