"""Own recordings (video / ROS 2 bag) + boxes + sentence -> LaSOT layout the trainer's loader reads."""
import numpy as np
import pytest

from langtrack_ros.data.loaders import load_dataset
from langtrack_ros.data.recordings import import_recording
from langtrack_ros.data.sequence import DatasetError

N, H, W = 6, 48, 64


def frame(i: int) -> np.ndarray:
    img = np.full((H, W, 3), 30, np.uint8)
    img[10:26, 5 + 6 * i:21 + 6 * i] = (220, 40, 40)
    return img


def boxes_file(tmp_path, rows):
    path = tmp_path / "boxes.txt"
    path.write_text("\n".join(rows) + "\n")
    return path


ROWS = [f"{5 + 6 * i},10,16,16" for i in range(N - 1)] + ["0,0,0,0"]


def test_video_becomes_a_lasot_sequence(tmp_path):
    cv2 = pytest.importorskip("cv2")
    video = tmp_path / "run1.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for i in range(N):
        writer.write(cv2.cvtColor(frame(i), cv2.COLOR_RGB2BGR))
    writer.release()
    folder = import_recording(video, boxes_file(tmp_path, ROWS), "the red box", tmp_path / "mine")
    assert folder == tmp_path / "mine" / "recording" / "recording-run1"
    (seq,) = load_dataset("lasot", tmp_path / "mine")
    assert len(seq) == N and seq.sentence == "the red box"
    assert seq.visible.tolist() == [True] * (N - 1) + [False]
    assert np.allclose(seq.boxes[2], [17, 10, 16, 16])
    red = seq.image(2)[18, 25]  # decoded image: the box is where the boxes file says
    assert red[0] > 150 and red[2] < 100


def test_bag_becomes_a_lasot_sequence_and_bad_counts_leave_nothing(tmp_path):
    pytest.importorskip("rosbags")
    from langtrack_ros.data.bag_export import write_bag

    bag = write_bag(tmp_path / "bag1", N, frame, [(0, "the red box")], 10.0)
    folder = import_recording(bag, boxes_file(tmp_path, ROWS), "the red box", tmp_path / "mine", name="b1")
    (seq,) = load_dataset("lasot", tmp_path / "mine")
    assert seq.name == folder.name and len(seq) == N and seq.image(0).shape == (H, W, 3)
    with pytest.raises(DatasetError, match="5 boxes for 6 images"):
        import_recording(bag, boxes_file(tmp_path, ROWS[:5]), "the red box", tmp_path / "mine", name="b2")
    assert sorted(p.name for p in (tmp_path / "mine" / "recording").iterdir()) == ["recording-b1"]
    with pytest.raises(DatasetError, match="already exists"):
        import_recording(bag, boxes_file(tmp_path, ROWS), "the red box", tmp_path / "mine", name="b1")
    with pytest.raises(DatasetError, match="recording not found"):
        import_recording(tmp_path / "nope.mp4", boxes_file(tmp_path, ROWS), "x", tmp_path / "mine")
