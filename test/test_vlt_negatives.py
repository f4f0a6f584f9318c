"""VLT negative pairs (sampling.p_negative): a negative's search crop comes from another sequence and
trains background only; a one-sequence source never yields a mislabelled negative; validation
pairs stay positive; with p_negative 0 the pairs are drawn exactly as before."""
import dataclasses

import numpy as np
import torch

from langtrack_ros.training.sampling import list_source
from langtrack_ros.vlt.arch import Architecture
from langtrack_ros.vlt.data import VLTPairs, collate_pairs
from langtrack_ros.vlt.loss import vlt_loss
from langtrack_ros.vlt.model import VLTNet, grid_points
from packaged import pair_sampling, vlt_loss_weights
from test_training import make_sequence
from test_vlt import BLOCKS, TINY, stage_cfg, trainer


def pairs(p_negative, sources, training=True, seed=2):
    cfg = pair_sampling(pairs_per_sequence=1, p_no_sentence=0.0, p_negative=p_negative)
    return VLTPairs(sources, cfg, seed, TINY.template_size, TINY.search_size, training=training)


def two_sources():
    return [list_source([make_sequence("a")]), list_source([make_sequence("b")])]


def test_negative_pairs_show_another_sequence_and_are_marked_absent():
    sources = two_sources()
    neg = pairs(0.5, sources)
    batch = collate_pairs([neg[i] for i in range(40)])
    absent = ~batch["present"]
    assert 5 < int(absent.sum()) < 35  # about half
    assert torch.all(batch["boxes"][absent][:, 2:] == 0)  # no box (a flip moves x only)
    assert torch.all(batch["boxes"][~absent][:, 2:] > 0)


def test_one_sequence_source_never_gives_a_negative():
    only = pairs(0.9, [list_source([make_sequence()])])
    assert all(only[i].get("present", True) for i in range(30))


def test_without_negatives_the_draw_is_unchanged_and_val_pairs_stay_positive():
    sources = two_sources()
    off, val = pairs(0.0, sources), pairs(0.9, sources, training=False)
    for i in range(10):
        a, b = off[i], val[i]
        assert np.array_equal(a["search"], b["search"]) and np.array_equal(a["box"], b["box"])
        assert a.get("present", True) and b.get("present", True)


def test_a_negative_pair_trains_background_only():
    torch.manual_seed(0)
    model, points = VLTNet(TINY), grid_points(TINY)
    batch = collate_pairs([pairs(0.0, two_sources())[i] for i in range(4)])
    arch = Architecture.random(np.random.default_rng(0), BLOCKS)
    out = model(batch["template"], batch["search"], batch["template_boxes"], arch=arch)
    w = vlt_loss_weights()
    _, pos = vlt_loss(out, batch["boxes"], points, TINY.search_size, w)
    total, none = vlt_loss(out, batch["boxes"], points, TINY.search_size, w, torch.zeros(4, dtype=torch.bool))
    assert pos["ciou"] > 0 and none["ciou"] == 0 and none["cen"] == 0
    logp = torch.log_softmax(out["cls"], 1)[:, 0]
    assert abs(none["cls"] - float(-0.5 * logp.detach().mean())) < 1e-5  # every point a background point
    total.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_trainer_validation_pairs_are_positive_with_negatives_on(tmp_path):
    cfg = stage_cfg(steps=2)
    cfg = dataclasses.replace(cfg, sampling=dataclasses.replace(cfg.sampling, p_negative=0.9))
    t = trainer(tmp_path, cfg)
    assert all(bool(b["present"].all()) for b in t.val_batches)
    assert t.train().completed


def test_distractor_pairs_centre_another_object_of_the_scene_and_skip_the_targets_own_boxes():
    from langtrack_ros.data.sequence import ExtraTarget
    from test_training import _box

    seq = make_sequence()
    seq.extras = [ExtraTarget(2, (90.0, 60.0, 20.0, 20.0), "the blue square"),  # the static blue square
                  ExtraTarget(3, tuple(_box(3)), "the red box")]  # the target itself: never a distractor
    cfg = pair_sampling(pairs_per_sequence=1, p_no_sentence=0.0, p_distractor=1.0, p_flip=0.0)
    dis = VLTPairs([list_source([seq])], cfg, 0, TINY.template_size, TINY.search_size)
    for i in range(6):
        pair = dis[i]
        assert pair["present"] is False and pair["sentence"] == "the red box on the left"
        r, g, b = pair["search"][TINY.search_size // 2, TINY.search_size // 2].astype(int)
        assert b > r + 60  # the crop is centred on the blue square, at the red target's scale
    still = dataclasses.replace(cfg, center_jitter=0.0, scale_jitter=0.0)  # crop centre exactly on the target
    val = VLTPairs([list_source([seq])], still, 0, TINY.template_size, TINY.search_size, training=False)
    for i in range(4):  # validation pairs never are distractor-centred: the red target sits at the centre
        r, g, b = val[i]["search"][TINY.search_size // 2, TINY.search_size // 2].astype(int)
        assert val[i].get("present", True) and r > b + 60


def grey_pairs(p_gray, training=True):
    # no flips: the grey draw comes before the flip draw, so with flips on the two would flip apart
    cfg = pair_sampling(pairs_per_sequence=1, p_no_sentence=0.0, p_gray=p_gray, p_flip=0.0)
    return VLTPairs(two_sources(), cfg, 2, TINY.template_size, TINY.search_size, training=training)


def _is_grey(image):
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]))


def test_grey_pairs_turn_both_crops_grey_and_keep_the_boxes():
    off, on = grey_pairs(0.0), grey_pairs(1.0)
    for i in range(6):
        a, b = off[i], on[i]
        assert not _is_grey(a["template"]) and not _is_grey(a["search"])  # the toy target is red
        assert _is_grey(b["template"]) and _is_grey(b["search"])
        assert np.array_equal(a["box"], b["box"]) and np.array_equal(a["template_box"], b["template_box"])
        luma = 0.299 * a["search"][..., 0] + 0.587 * a["search"][..., 1] + 0.114 * a["search"][..., 2]
        assert np.abs(b["search"][..., 0] - luma).max() <= 1.0  # the same crop, as luma


def test_grey_off_draws_as_before_and_validation_pairs_keep_their_colour():
    plain, val = grey_pairs(0.0), grey_pairs(1.0, training=False)
    for i in range(6):
        assert np.array_equal(plain[i]["search"], val[i]["search"])
