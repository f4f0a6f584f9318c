"""Issue 14 item 8: the prior nets on a worker thread beside MVLM's network (priors.parallel).

The answer must be the one the sequential order gives, frame for frame; the nets must really run
on the worker; and the failure paths (MVLM's network raising or returning NaN after the nets were
started, a new query then) must neither hang nor lose state. A prior model raising on the worker:
test_priors.py (parametrized over both orders)."""
import dataclasses
import threading

import numpy as np
import pytest
import skimage.data

from fake_mvlm import FakeBackend
from langtrack_ros.builder import build_priors
from langtrack_ros.paths import config_file
from langtrack_ros.tracking.priors.fusion import PriorFusion
from langtrack_ros.tracking.priors.lexicon import Lexicon
from langtrack_ros.tracking.tracker import MVLMTracker
from test_priors import FakeDetector, RedEncoder


@pytest.fixture(scope="module")
def shipped():
    return build_priors("all")  # the real prior models, loaded once


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.load(config_file("priors"))


class ThreadRecorder:
    """Wraps a prior model and records the thread each call ran on."""

    def __init__(self, model):
        self.model, self.threads = model, []
        self.labels = getattr(model, "labels", [])

    def __call__(self, patch):
        self.threads.append(threading.current_thread().name)
        return self.model(patch)


def _tracker(shipped, parallel: bool, **settings):
    cfg = dataclasses.replace(shipped.cfg, parallel=parallel, **settings)
    priors = PriorFusion(cfg, shipped.lexicon, ThreadRecorder(shipped.detector), ThreadRecorder(shipped.imagenet),
                         ThreadRecorder(shipped.coco))
    return MVLMTracker(FakeBackend(), RedEncoder(), priors=priors)


def _frames(n=12):
    """The astronaut photo (a person the shipped detector finds) panning right, 4 px a frame."""
    photo = skimage.data.astronaut()[::2, ::2]  # 256 x 256
    canvas = np.full((240, 360, 3), 90, np.uint8)
    return [_placed(canvas, photo[8:248], 20 + 4 * i) for i in range(n)]


def _placed(canvas, photo, x):
    frame = canvas.copy()
    frame[:, x:x + photo.shape[1]] = photo
    return frame


def test_parallel_nets_give_the_sequential_answer_and_run_on_the_worker(shipped):
    frames = _frames()
    tracks = {}
    for parallel in (False, True):
        tracker = _tracker(shipped, parallel, roi_every=2)
        tracker.set_query("the person")
        tracks[parallel] = [tracker.step(f) for f in frames]
        names = tracker.priors.detector.threads
        assert names and all(("prior-nets" in n) == parallel for n in names), names
    for a, b in zip(tracks[False], tracks[True]):
        np.testing.assert_array_equal(a.box, b.box)
        assert (a.kappa, a.found, a.mode) == (b.kappa, b.found, b.mode)
    assert any(r.found for r in tracks[True])


class FailingOnce(FakeBackend):
    """MVLM's network raising on one call (a lost GPU context), after the prior nets were started."""

    fail_next = False

    def run(self, *args, **kwargs):
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("network lost")
        return super().run(*args, **kwargs)


def test_network_failure_or_nan_after_prefetch_neither_hangs_nor_keeps_a_stale_run(lexicon, shipped):
    detector = FakeDetector("Person")
    cfg = dataclasses.replace(shipped.cfg, parallel=True)
    backend = FailingOnce()
    tracker = MVLMTracker(backend, RedEncoder(), priors=PriorFusion(cfg, lexicon, detector, None))
    tracker.set_query("the person")
    image = np.zeros((240, 320, 3), np.uint8)
    image[60:200, 220:260] = (0, 255, 0)
    assert tracker.step(image).found
    backend.fail_next = True
    with pytest.raises(RuntimeError, match="network lost"):
        tracker.step(image)
    assert tracker.priors._pending is not None  # started for a frame that was never fused
    tracker.set_query("the person walking")  # waits for it, then resets: no run carried into the new query
    assert tracker.priors._pending is None and tracker.priors.schedule.last is None
    assert tracker.step(image).found
    backend.nan_next = True
    assert not tracker.step(image).found  # NaN: not found, relocalize next frame
    assert tracker.priors._pending is not None  # its nets were started and never fused
    tracker.priors.settle()
    calls = detector.calls
    result = tracker.step(image)  # the unfused run is dropped; this frame's nets run afresh
    assert result.found and detector.calls == calls + 1
    np.testing.assert_allclose(result.box, [220, 60, 40, 140], atol=3)
