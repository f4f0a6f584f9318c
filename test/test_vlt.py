"""VLT: ModaMixer arithmetic, every block choice's shapes, architecture validity (errors name the
field; mutation/crossover stay valid), SiamCAR loss, and kill-and-resume of the three stages."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from langtrack_ros.config import ConfigError, from_dict
from langtrack_ros.training import checkpoint as ckpt
from langtrack_ros.training.sampling import list_source
from langtrack_ros.training.trainer import CheckpointSection, DataSection, LoggingSection
from langtrack_ros.vlt.arch import CHOICES, GENES, Architecture
from langtrack_ros.vlt.blocks import ChoiceBlock, ModaMixer
from langtrack_ros.vlt.config import (VLT_FORMAT, RetrainSection, SearchSection, StageConfig, StageSection,
                                     VLTFileConfig, VLTOptimSection)
from langtrack_ros.vlt.data import VLTPairs, collate_pairs
from langtrack_ros.vlt.loss import complete_iou, vlt_loss
from langtrack_ros.vlt.model import VLTConfig, VLTNet, grid_points
from packaged import SMALL_RUN, pair_sampling, vlt_loss_weights, vlt_yaml
from test_training import HashEncoder, make_sequence

BLOCKS = (1, 1, 2, 1)
TINY = VLTConfig(stem="scratch", stem_blocks=0, stem_channels=8, stage_channels=(16, 24, 32, 32), stage_blocks=BLOCKS,
                 template_size=32, search_size=64, template_crop=2, neck_channels=16, head_layers=1, text_dim=384,
                 max_text_tokens=32, language=True, architecture=None)


def tiny_pairs(seed: int, **sampling) -> VLTPairs:
    """Pairs from the toy sequence at TINY's sizes; one pair per sequence draw unless told."""
    cfg = pair_sampling(**{"pairs_per_sequence": 1, **sampling})
    return VLTPairs([list_source([make_sequence()])], cfg, seed, TINY.template_size, TINY.search_size)


class Encoder(HashEncoder):
    def encode(self, text):
        feats, mask = self.encode_batch([text])
        return feats[0], mask[0]


def test_modamixer_equals_hand_computation():
    mixer = ModaMixer(["k3"], channels=2, text_dim=3)
    with torch.no_grad():
        mixer.linear.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 0.5]]))
        mixer.linear.bias.copy_(torch.tensor([0.5, 1.0]))
    x = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # (1, 2, 1, 2)
    lang = torch.tensor([[1.0, 2.0, 3.0]])
    # W l + b = [1 + 6 + 0.5, -2 + 1.5 + 1] = [7.5, 0.5]
    hand = torch.tensor([[[[7.5, 15.0]], [[1.5, -0.5]]]])
    assert torch.allclose(mixer.mix(x, lang), hand)
    mixer.eval()
    assert torch.allclose(mixer(x, lang, "k3"), x + mixer.post(hand, "k3"))


@pytest.mark.parametrize("choice", CHOICES)
def test_every_choice_gives_the_right_shapes(choice):
    for cin, cout, stride in ((8, 16, 2), (16, 16, 1), (16, 24, 1)):
        out = ChoiceBlock([choice], cin, cout, stride)(torch.rand(2, cin, 8, 8), choice)
        assert out.shape == (2, cout, 8 // stride, 8 // stride)
    net = VLTNet(dataclasses.replace(TINY, architecture=Architecture.uniform(choice, BLOCKS).to_dict()))
    out = net(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 64, 64), torch.tensor([[0.25, 0.25, 0.5, 0.5]] * 2),
              torch.rand(2, 384), torch.tensor([True, False]))
    g = TINY.score_size
    assert g == 7 and out["cls"].shape == (2, 2, g, g) and out["cen"].shape == (2, 1, g, g)
    assert out["ltrb"].shape == (2, 4, g, g) and (out["ltrb"] > 0).all()


def test_supernet_runs_any_path_and_fixed_model_loads_its_weights():
    supernet = VLTNet(TINY)
    arch = Architecture.random(np.random.default_rng(3), BLOCKS)
    fixed = VLTNet(dataclasses.replace(TINY, architecture=arch.to_dict()))
    own = fixed.state_dict()
    assert set(own) < set(supernet.state_dict())  # only the chosen units, same names
    fixed.load_state_dict({k: supernet.state_dict()[k] for k in own})
    supernet.eval(), fixed.eval()
    args = (torch.rand(1, 3, 32, 32), torch.rand(1, 3, 64, 64), torch.tensor([[0.3, 0.3, 0.4, 0.4]]),
            torch.rand(1, 384), torch.tensor([True]))
    assert torch.allclose(supernet(*args, arch=arch)["cls"], fixed(*args)["cls"], atol=1e-5)


def test_architecture_errors_name_the_field():
    good = Architecture.uniform("k5", BLOCKS).to_dict()
    with pytest.raises(ConfigError, match=r"architecture.search_path\[1\]: unknown block choice 'k9'"):
        Architecture.from_dict({**good, "search_path": ["k3", "k9", "k3", "k3", "k3"]}, BLOCKS)
    with pytest.raises(ConfigError, match="architecture.template_mixers: expected 4 choices, got 3"):
        Architecture.from_dict({**good, "template_mixers": ["k3"] * 3}, BLOCKS)
    with pytest.raises(ConfigError, match="missing field"):
        Architecture.from_dict({k: v for k, v in good.items() if k != "search_mixers"}, BLOCKS)
    with pytest.raises(ConfigError, match=r"model.architecture.search_path: expected 5 choices, got 4"):
        dataclasses.replace(TINY, architecture={**good, "search_path": ["k3"] * 4})


def test_mutation_and_crossover_keep_architectures_valid(tmp_path):
    rng = np.random.default_rng(0)
    population = [Architecture.random(rng) for _ in range(10)]
    for i in range(200):
        a, b = population[rng.integers(10)], population[rng.integers(10)]
        child = a.mutate(rng, 0.3) if i % 2 else a.crossover(b, rng)
        child.validate()
        assert all(c in (x, y) for g in GENES for c, x, y in zip(getattr(child, g), getattr(a, g), getattr(b, g))) \
            or i % 2
        sym = a.mutate(rng, 0.3, symmetric=True)
        assert sym.template_path == sym.search_path and sym.template_mixers == sym.search_mixers
    path = population[0].save(tmp_path / "a.json", {"fitness": 0.5})
    assert Architecture.load(path) == population[0]


def test_ciou_and_loss_behave():
    a = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    assert torch.allclose(complete_iou(a, a), torch.ones(1), atol=1e-5)
    assert complete_iou(a, a + 20.0).item() < 0
    points = grid_points(TINY)
    boxes = torch.tensor([[0.4, 0.4, 0.2, 0.2]])
    g = len(points)
    out = {"cls": torch.zeros(1, 2, g, g), "cen": torch.zeros(1, 1, g, g), "ltrb": torch.full((1, 4, g, g), 6.0)}
    loss, parts = vlt_loss(out, boxes, points, 64, vlt_loss_weights())
    assert np.isclose(parts["cls"], np.log(2), atol=1e-5) and torch.isfinite(loss)


# ----------------------------------------------------------------------------- stages
def vlt_optim(**values) -> VLTOptimSection:
    """Small-run optimiser settings (the shared sections have no code defaults: SMALL_RUN names them)."""
    return VLTOptimSection(**{**SMALL_RUN["optim"], "betas": (0.9, 0.999), "steps": 4, "batch_size": 2, "lr": 0.01,
                              "kind": "sgd", "momentum": 0.9, **values})


def data_section(**values) -> DataSection:
    return DataSection(**{**SMALL_RUN["data"], "source_defaults": vlt_yaml()["data"]["source_defaults"],
                          "sources": [], **values})


QUIET = dict(every=10, val_every=0, progress=False)


def stage_cfg(steps=4, arch=None, init="", **optim) -> StageConfig:
    return StageConfig(seed=1, threads=1, device="auto", precision="fp32", stage="retrain" if arch else "supernet",
                       model=dataclasses.replace(TINY, architecture=arch), data=data_section(val_samples=4),
                       sampling=pair_sampling(pairs_per_sequence=2), optim=vlt_optim(steps=steps, **optim),
                       loss=vlt_loss_weights(),
                       checkpoint=CheckpointSection(every=2, keep=3), logging=LoggingSection(**QUIET), init=init)


def trainer(tmp_path, cfg, resume=False):
    from langtrack_ros.vlt.train import VLTTrainer

    src = [list_source([make_sequence()])]
    return VLTTrainer(cfg, tmp_path, resume=resume, text_encoder=HashEncoder(), sources=src, val_sources=src)


def weights(t):
    return {k: v.clone() for k, v in t.model.state_dict().items()}


def kill_and_resume(tmp_path, cfg):
    straight = trainer(tmp_path / "straight", cfg)
    assert straight.train().completed
    t = trainer(tmp_path / "killed", cfg)
    t.on_progress = lambda step, total, parts: step == 3 and t.request_stop()
    assert not t.train().completed
    resumed = trainer(tmp_path / "killed", cfg, resume=True)
    assert resumed.step == 3 and resumed.train().completed
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    return tmp_path / "straight" / "model.safetensors"


def test_pairs_are_deterministic_and_drop_sentences():
    pairs = tiny_pairs(3, p_no_sentence=0.5)
    a, b = pairs[4], pairs[4]
    assert np.array_equal(a["search"], b["search"]) and a["sentence"] == b["sentence"]
    batch = collate_pairs([pairs[i] for i in range(12)])
    assert batch["template"].shape == (12, 3, 32, 32) and batch["search"].shape == (12, 3, 64, 64)
    assert "" in batch["sentences"] and any(batch["sentences"])
    inside = (batch["boxes"][:, :2] >= -0.2).all() and (batch["boxes"][:, :2] <= 1.0).all()
    assert inside


def test_supernet_and_retrain_kill_and_resume_match_and_corrupt_checkpoint_is_refused(tmp_path):
    from langtrack_ros.vlt.train import load_vlt

    supernet = kill_and_resume(tmp_path / "s", stage_cfg(steps=4))
    assert load_vlt(supernet).cfg.architecture is None
    arch = Architecture.random(np.random.default_rng(5), BLOCKS).to_dict()
    retrained = kill_and_resume(tmp_path / "r", stage_cfg(steps=4, arch=arch, init=str(supernet)))
    model = load_vlt(retrained)
    assert model.cfg.architecture == arch
    with pytest.raises(ckpt.CheckpointError, match="langtrack_format"):
        ckpt.read_model_file(retrained)  # an MVLM loader refuses a VLT file by name
    # a corrupt newest checkpoint: --resume falls back to the previous good one (shared checkpoint code)
    killed = tmp_path / "r" / "killed"
    newest = ckpt.latest_checkpoint(killed)
    steps = [s for s, _ in ckpt.list_checkpoints(killed)]
    (newest / "model.safetensors").write_bytes(b"garbage")
    resumed = trainer(killed, stage_cfg(steps=4, arch=arch, init=str(supernet)), resume=True)
    assert resumed.step == sorted(steps)[-2]


def search_job(tmp_path, supernet, resume=False, **search):
    from langtrack_ros.vlt.search import SearchJob

    seq = make_sequence()
    packaged = vlt_yaml({"search": {"population": 4, "top_k": 2, "mutations": 2, "crossovers": 2, "generations": 3,
                                    "bn_batches": 1, "bn_batch_size": 2, **search}})
    retrain = {k: v for k, v in packaged["retrain"].items() if k != "optim"}
    cfg = VLTFileConfig(seed=0, threads=1, device="auto", precision="fp32", model=TINY,
                        data=data_section(sources=[{}]), sampling=pair_sampling(pairs_per_sequence=2),
                        loss=vlt_loss_weights(), supernet=StageSection(optim=vlt_optim()),
                        retrain=RetrainSection(optim=vlt_optim(), **retrain),
                        search=from_dict(SearchSection, packaged["search"]), checkpoint=CheckpointSection(every=0, keep=3),
                        logging=LoggingSection(**QUIET), tracker={})
    job = SearchJob(cfg, tmp_path, supernet, resume=resume, text_encoder=Encoder(), val_sequences=[seq])
    job._sources = [list_source([seq])]
    return job


def test_search_kill_and_resume_matches_and_refuses_another_space(tmp_path):
    supernet = tmp_path / "supernet.safetensors"
    torch.manual_seed(0)
    ckpt.save_model(VLTNet(TINY), TINY, supernet, {}, VLT_FORMAT)
    straight = search_job(tmp_path / "straight", supernet)
    assert straight.train().completed
    job = search_job(tmp_path / "killed", supernet)
    real = job.fitness
    calls = []

    def stop_after_five(arch):
        calls.append(arch)
        if len(calls) == 5:
            job.request_stop()
        return real(arch)

    job.fitness = stop_after_five
    assert not job.train().completed
    resumed = search_job(tmp_path / "killed", supernet, resume=True)
    assert resumed.train().completed
    for name in ("candidates.jsonl", "architecture.json"):
        assert (tmp_path / "straight" / name).read_text() == (tmp_path / "killed" / name).read_text()
    log = [json.loads(line) for line in (tmp_path / "straight" / "candidates.jsonl").read_text().splitlines()]
    assert {e["generation"] for e in log} == {0, 1, 2} and all(0 <= e["fitness"] <= 1 for e in log)
    assert (tmp_path / "straight" / "fitness.png").is_file()
    with pytest.raises(ConfigError, match="search's space differs"):
        search_job(tmp_path / "killed", supernet, resume=True, symmetric=True)
    with pytest.raises(ConfigError, match="already holds a search"):
        search_job(tmp_path / "killed", supernet)


# ----------------------------------------------------------------------------- tracker and CLI
class BoxGrounder:
    """Stands in for MVLM's language-only first-frame result."""

    def __init__(self, box):
        self.box, self.queries = box, []

    def set_query(self, text):
        self.queries.append(text)

    def step(self, image):
        from langtrack_ros.tracking.result import TrackResult

        return TrackResult(np.array(self.box, float))


@pytest.mark.parametrize("first_box", ["user", "mvlm"])
def test_vlt_tracker_follows_a_sequence_from_a_box_or_from_grounding(first_box):
    from langtrack_ros.evaluation.harness import run_sequence
    from langtrack_ros.vlt.tracker import VLTTracker, load_vlt_settings

    torch.manual_seed(0)
    model = VLTNet(dataclasses.replace(TINY, architecture=Architecture.uniform("k3", BLOCKS).to_dict()))
    seq = make_sequence()
    grounder = BoxGrounder(seq.boxes[0]) if first_box == "mvlm" else None
    tracker = VLTTracker(model, Encoder(), load_vlt_settings(first_box=first_box, language=first_box == "user"),
                         grounder=grounder)
    assert tracker.needs_box == (first_box == "user")
    run = run_sequence(tracker, seq)
    assert not run.errors and np.isfinite(run.boxes).all()
    assert np.allclose(run.boxes[0], seq.boxes[0])  # frame 0: the given / grounded box
    if grounder:
        assert grounder.queries == [seq.sentence]
    with pytest.raises(ValueError, match="init_box"):
        VLTTracker(model, Encoder(), load_vlt_settings()).set_query("the red box")


def test_batched_pyramid_gives_the_boxes_of_one_forward_per_scale():
    """The pyramid's 3 crops go through the network as one batch; with BatchNorm in eval mode (running
    statistics made non-trivial here, so a train-mode net or a mixed-up batch would show) every crop
    must get what it gets alone, so the boxes equal those of the sequential forwards."""
    from langtrack_ros.vlt.tracker import VLTTracker, load_vlt_settings

    torch.manual_seed(1)
    model = VLTNet(dataclasses.replace(TINY, architecture=Architecture.uniform("k3", BLOCKS).to_dict()))
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.2, 0.2), bn.running_var.uniform_(0.5, 2.0), bn.weight.data.uniform_(0.5, 1.5)
    seq = make_sequence()
    frames = [seq.image(i) for i in range(8)]
    boxes, calls = {}, {}
    for batched in (True, False):
        tracker = VLTTracker(model, Encoder(), load_vlt_settings(scale_mode="pyramid"))
        tracker.batched = batched
        tracker.set_query(seq.sentence, seq.boxes[0])
        forward, calls[batched] = model.track, []
        model.track = lambda search, *a: calls[batched].append(len(search)) or forward(search, *a)
        boxes[batched] = np.array([tracker.step(f).box for f in frames])
        del model.track
    assert calls[True] == [3] * 7 and calls[False] == [1] * 21
    assert np.abs(np.diff(boxes[False], axis=0)).max() > 0.5  # the boxes move: the comparison is not trivial
    np.testing.assert_allclose(boxes[True], boxes[False], rtol=0, atol=1e-3)
    scales = (1 / 1.04, 1.0, 1.04)  # and every scale's maps, around the true box (the random net drifts off)
    for i in range(1, 8):
        tracker.box = seq.boxes[i]
        maps = {}
        for tracker.batched in (True, False):
            maps[tracker.batched] = tracker._respond(frames[i], scales)
        for one, alone in zip(maps[True], maps[False]):
            for a, b in zip((one.cls, one.score, *one.ltrb), (alone.cls, alone.score, *alone.ltrb)):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_tracker_settings_and_cli_errors(tmp_path, caplog):
    from langtrack_ros.cli import main
    from langtrack_ros.evaluation.registry import tracker_names
    from langtrack_ros.vlt.tracker import load_vlt_settings

    assert {"vlt", "vlt-text"} <= set(tracker_names())
    with pytest.raises(ConfigError, match="first_box"):
        load_vlt_settings(first_box="gt")
    with pytest.raises(ConfigError, match="unknown vlt tracker option"):
        load_vlt_settings(bogus=1)
    assert main(["train", "vlt", "--run-dir", str(tmp_path)]) == 2  # no --stage
    assert main(["train", "vlt", "--stage", "search", "--run-dir", str(tmp_path)]) == 2  # no supernet yet
    assert "run --stage supernet first" in caplog.text
    (tmp_path / "supernet").mkdir()
    ckpt.save_model(VLTNet(TINY), TINY, tmp_path / "supernet" / "model.safetensors", {}, VLT_FORMAT)
    assert main(["train", "vlt", "--stage", "retrain", "--run-dir", str(tmp_path),
                 "--set", "retrain.architecture=uniform:k9"]) == 2
    assert "unknown block choice 'k9'" in caplog.text
    bad = tmp_path / "arch.json"
    bad.write_text(json.dumps({**Architecture.uniform("k3").to_dict(), "search_path": ["k3"] * 19}))
    assert main(["train", "vlt", "--stage", "retrain", "--run-dir", str(tmp_path),
                 "--set", f"retrain.architecture={bad}"]) == 2
    assert "search_path: expected 20 choices, got 19" in caplog.text


def test_vlt_ablation_names_missing_models_and_writes_every_row(tmp_path):
    from langtrack_ros.commands import vlt_ablation

    cfg = {"models": {"m": {"path": str(tmp_path / "nope.safetensors"), "train": "langtrack train vlt ..."}},
           "rows": [{"key": "V1", "label": "V1 x", "model": "m"}], "datasets": [{"key": "d"}],
           "notes": ["searched vs all-k3 fitness: measured by `python x.py`"]}
    with pytest.raises(FileNotFoundError, match="V1 not found.*langtrack train vlt"):
        vlt_ablation.plan(cfg)
    score = {"auc": 0.5, "pre": 0.6}
    rows = [{"key": k, "label": f"{k} label"} for k in ("V1", "V2", "V3", "V4")]
    results = [{"dataset": "d", "row": r["key"], "label": r["label"], "convention": "got10k", "sequences": 2,
                "overall": {"honest": {**score, "auc": 0.1 * (i + 1)}, "toolkit": score}, "events": {}, "fps": 9.0}
               for i, r in enumerate(rows)]
    out = tmp_path / "R.md"
    vlt_ablation.write_results(results, rows, cfg, out, "langtrack vlt-ablation", 60.0)
    text = out.read_text()
    assert all(f"{k} label" in text for k in ("V1", "V2", "V3", "V4"))
    assert "d: baseline < +ModaMixer < +ModaMixer+search holds (10.0 / 20.0 / 30.0)" in text
    assert "- searched vs all-k3 fitness: measured by `python x.py`" in text


def test_vlt_ablation_rewrite_keeps_the_runs_own_date_and_leaves_out_sections_it_lacks(tmp_path):
    from langtrack_ros.cli import main
    from langtrack_ros.evaluation.ablation_runs import save_runs

    model = tmp_path / "m.safetensors"
    model.write_bytes(b"")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"models": {"m": {"path": str(model)}}, "rows": [{"key": "V2", "label": "V2 x", "model": "m"}],
                               "datasets": [{"key": "d"}, {"key": "never-ran"}]}))
    score = {"auc": 0.5, "pre": 0.6}
    results = [{"dataset": "d", "row": "V2", "label": "V2 x", "convention": "got10k", "sequences": 2,
                "overall": {"honest": score, "toolkit": score}, "events": {}, "fps": 9.0}]
    record = save_runs(tmp_path / "runs", results, "langtrack vlt-ablation --jobs 1", 120.0)
    args = ["vlt-ablation", "--config", str(cfg), "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "R.md"),
            "--rewrite"]
    assert main(args) == 0
    text = (tmp_path / "R.md").read_text()
    assert f"Generated by `langtrack vlt-ablation --jobs 1` on {record['date']} " in text and "2.0 min" in text
    assert "## d (" in text and "never-ran" not in text
    del record["date"]  # a record written before runs kept their date: not today's, but "not recorded"
    (tmp_path / "runs" / "ablation.json").write_text(json.dumps(record))
    assert main(args) == 0 and "on a date not recorded" in (tmp_path / "R.md").read_text()


def test_flops_grow_with_kernel_and_bn_recalibration_fits_the_path():
    from langtrack_ros.vlt.measures import count_mflops, recalibrate_bn

    net = VLTNet(TINY)
    k3, k7 = (count_mflops(net, Architecture.uniform(c, BLOCKS)) for c in ("k3", "k7"))
    assert 0 < k3 < k7
    batch = collate_pairs([tiny_pairs(0)[i] for i in range(2)])
    recalibrate_bn(net, Architecture.uniform("k5", BLOCKS), [batch], lambda s: (torch.zeros(2, 384), torch.ones(2, dtype=torch.bool)))
    used = net.backbone.blocks[0].units["k5"].main[1]
    unused = net.backbone.blocks[0].units["k3"].main[1]
    assert int(used.num_batches_tracked) == 2 and int(unused.num_batches_tracked) == 0  # template + search pass
    assert not torch.allclose(used.running_mean, torch.zeros_like(used.running_mean))


def write_lasot(root, names_by_class: dict, test: list[str]):
    """A tiny LaSOT-layout corpus of the toy sequence (``<class>/<name>/img``) with a testing_set.txt."""
    import cv2

    seq = make_sequence()
    for cls, names in names_by_class.items():
        for name in names:
            folder = root / cls / name
            (folder / "img").mkdir(parents=True)
            for i in range(len(seq)):
                cv2.imwrite(str(folder / "img" / f"{i + 1:08d}.jpg"), cv2.cvtColor(seq.image(i), cv2.COLOR_RGB2BGR))
            boxes = np.nan_to_num(seq.boxes)
            np.savetxt(folder / "groundtruth.txt", boxes, fmt="%.1f", delimiter=",")
            (folder / "full_occlusion.txt").write_text(",".join("0" for _ in range(len(seq))))
            (folder / "out_of_view.txt").write_text(",".join(str(int(not v)) for v in seq.visible))
            (folder / "nlp.txt").write_text(f"the red box of {name}")
    (root / "testing_set.txt").write_text("\n".join(test) + "\n")


def test_real_pairs_come_from_the_train_split_and_search_fitness_from_the_val_split(tmp_path):
    """Real template/search pairs (two frames of one sequence of a dataset source): split train never
    yields a testing_set.txt sequence; search.val_real adds the val sequences, truncated, to the fitness set."""
    from langtrack_ros.training.sampling import SourceConfig, build_source

    write_lasot(tmp_path, {"person": ["walker-1", "walker-2"], "vehicle": ["car-1"]}, ["walker-2"])
    spec = {"kind": "dataset", "name": "lasot", "root": str(tmp_path), "weight": 1.0, "num_sequences": 0,
            "seed_offset": 0}
    train = build_source(from_dict(SourceConfig, {**spec, "split": "train"}))
    assert sorted(train[i].name for i in range(len(train))) == ["car-1", "walker-1"]
    pairs = VLTPairs([train], pair_sampling(pairs_per_sequence=1, p_no_sentence=0.0), 0, TINY.template_size,
                     TINY.search_size)
    sample = pairs[3]
    assert sample["template"].shape == (32, 32, 3) and sample["search"].shape == (64, 64, 3)
    assert sample["sentence"] in ("the red box of car-1", "the red box of walker-1")
    assert 0 < sample["box"][0] < 1 and 0 < sample["box"][2] < 1
    supernet = tmp_path / "supernet.safetensors"
    ckpt.save_model(VLTNet(TINY), TINY, supernet, {}, VLT_FORMAT)
    job = search_job(tmp_path / "s", supernet, val_sequences=1, val_frames=5,
                     val_real=[{"kind": "dataset", "name": "lasot", "root": str(tmp_path), "split": "test"}])
    real = job._real_val_sequences()
    assert [s.name for s in real] == ["walker-2"] and len(real[0]) == 5


def test_vlt_trainer_builds_its_own_minilm_encoder(tmp_path):
    """`langtrack train vlt` passes no encoder: the VLT config names no text tower (MVLM's does), so
    the trainer must build the shared MiniLM itself instead of reading MVLM's text_encoder key."""
    from langtrack_ros.vlt.train import VLTTrainer

    src = [list_source([make_sequence()])]
    t = VLTTrainer(stage_cfg(steps=1), tmp_path, sources=src, val_sources=src)
    assert t.text.encoder.dim == 384 and t.text.encoder.max_tokens == TINY.max_text_tokens


def test_retrain_init_reads_supernet_none_or_a_model_file(tmp_path):
    """retrain.init may name a shipped model, so it can be trained further after its run folder is gone;
    a missing file or an unknown word is refused before any work."""
    from types import SimpleNamespace

    from langtrack_ros.vlt.jobs import retrain_init

    def cfg(init):
        return SimpleNamespace(retrain=SimpleNamespace(init=init, name="retrain"))

    arch = Architecture.uniform("k3", BLOCKS).to_dict()
    shipped = tmp_path / "shipped.safetensors"
    torch.manual_seed(3)
    ckpt.save_model(VLTNet(dataclasses.replace(TINY, architecture=arch)), TINY, shipped, {}, VLT_FORMAT)
    assert retrain_init(cfg("none"), tmp_path) == ""
    assert retrain_init(cfg(str(shipped)), tmp_path) == str(shipped)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        retrain_init(cfg(str(tmp_path / "gone.safetensors")), tmp_path)
    with pytest.raises(ConfigError, match="must be supernet, none or a .safetensors"):
        retrain_init(cfg("latest"), tmp_path)
    t = trainer(tmp_path / "run", stage_cfg(steps=1, arch=arch, init=str(shipped)))
    saved, _ = ckpt.read_model_file(shipped, VLT_FORMAT)
    own = t.model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in saved.items())


def test_motion_lead_centres_the_search_crop_ahead_of_a_moving_target(monkeypatch):
    """motion_lead moves the search crop by that many smoothed displacements; 0 keeps it on the last box;
    a new first box forgets the velocity."""
    from langtrack_ros.vlt import tracker as vt

    torch.manual_seed(0)
    model = VLTNet(dataclasses.replace(TINY, architecture=Architecture.uniform("k3", BLOCKS).to_dict()))
    seq = make_sequence()
    crops = []
    real_crop = vt.roi_crop
    for lead in (0.0, 2.0):
        tracker = vt.VLTTracker(model, Encoder(), vt.load_vlt_settings(motion_lead=lead))
        tracker.set_query(seq.sentence, seq.boxes[0])
        tracker.step(seq.image(0))
        tracker.velocity = np.array([4.0, -2.0])
        with monkeypatch.context() as m:
            m.setattr(vt, "roi_crop", lambda image, box, *a: crops.append(box.copy()) or real_crop(image, box, *a))
            tracker.step(seq.image(1))
        moved = (tracker.box[:2] + tracker.box[2:] / 2) - (seq.boxes[0][:2] + seq.boxes[0][2:] / 2)
        np.testing.assert_allclose(tracker.velocity, 0.5 * np.array([4.0, -2.0]) + 0.5 * moved)
    assert len(crops) == 6  # the pyramid's three crops per step, all around one centre
    np.testing.assert_allclose(crops[0], seq.boxes[0])
    np.testing.assert_allclose(crops[-1][:2], seq.boxes[0][:2] + [8.0, -4.0])
    tracker.set_query(seq.sentence, seq.boxes[0])
    tracker.step(seq.image(0))
    assert not tracker.velocity.any()
    with pytest.raises(ConfigError, match="motion_lead"):
        vt.load_vlt_settings(motion_lead=-1)
