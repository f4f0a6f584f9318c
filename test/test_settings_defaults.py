"""One source of truth for settings (issue 7): no settings dataclass carries a default of its own;
config/*.yaml is the one table, a user's partial file is merged over it once, an unknown key names
the key and the file, a missing section is a ConfigError (never a TypeError), and every shipped
model file still loads with the config it was trained with."""
import ast
import dataclasses
import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from langtrack_ros.config import ConfigError, from_dict

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "langtrack_ros"

# Dataclasses holding data (results, run-time state, scene contents), not settings: they may keep
# field defaults. Every other dataclass in langtrack_ros/ holds settings and must have none.
DATA_DATACLASSES = {
    "TrackResult", "Score", "SequenceRun", "ReplaySummary", "Sequence", "SynthSequence", "SceneObject",
    "QueryPrior", "Outputs", "DistContext",
    "Row",  # commands/bench.py: one row of a benchmark table
}
# The settings dataclasses issue 7 moved to config/*.yaml: the scan must see them (it is not vacuous).
SETTINGS_DATACLASSES = {
    "MVLMConfig", "SamplingConfig", "SourceConfig", "EvalSettings", "EventSettings", "Convention", "DemoConfig",
    "VLTConfig", "VLTOptimSection", "StageSection", "RetrainSection", "SearchSection", "VLTFileConfig",
    "StageConfig", "PairSamplingConfig", "VLTTrackerConfig", "VLTLossWeights", "TrackerSettings", "TrainConfig",
    "SynthConfig", "ConsoleSettings",
}


def _dataclasses_in_package():
    """(file, class name, names of fields with a default) for every @dataclass in langtrack_ros/."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any("dataclass" in ast.unparse(d) for d in node.decorator_list):
                continue
            defaults = [s.target.id for s in node.body
                        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.value is not None]
            yield path.relative_to(REPO), node.name, defaults


def test_no_settings_dataclass_has_field_defaults():
    found = {name for _, name, _ in _dataclasses_in_package()}
    assert SETTINGS_DATACLASSES <= found, f"settings dataclasses not found: {SETTINGS_DATACLASSES - found}"
    offenders = [f"{path}: {name} {defaults}" for path, name, defaults in _dataclasses_in_package()
                 if defaults and name not in DATA_DATACLASSES]
    assert not offenders, ("settings dataclasses with code defaults (move them to config/*.yaml, or add a "
                           f"data class to DATA_DATACLASSES): {offenders}")


# ----------------------------------------------------------------------------- each settings family

def packaged(name: str, node: str | None = None) -> dict:
    """config/<name>.yaml read as plain YAML (unwrapped from ros__parameters for node files)."""
    data = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    return data[node]["ros__parameters"] if node else data


def deep_update(base: dict, user: dict) -> dict:
    out = dict(base)
    for key, value in user.items():
        out[key] = deep_update(base[key], value) if isinstance(value, dict) and base.get(key) else value
    return out


def plain(obj) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(obj), default=list))


def with_resolved_sources(data: dict) -> dict:
    """``data`` with each source entry completed from data.source_defaults (what the loaders do)."""
    d = data["data"]
    fill = lambda entries: [{**d["source_defaults"], **e} for e in entries]  # noqa: E731
    return {**data, "data": {**d, "sources": fill(d["sources"]), "val_sources": fill(d["val_sources"])}}


def load_train_mvlm(path):
    from langtrack_ros.training.trainer import load_train_config

    return load_train_config(path)


def load_train_vlt(path):
    from langtrack_ros.vlt.config import load_vlt_config

    return load_vlt_config(path)


def load_vlt_tracker(path):
    from langtrack_ros.vlt.tracker import load_vlt_settings

    return load_vlt_settings(path)


def load_eval(path):
    from langtrack_ros.evaluation.harness import load_settings

    return load_settings(path)


def load_demo(path):
    from langtrack_ros.commands.demo import load_demo_config

    return load_demo_config(path)


def load_synth(path):
    from langtrack_ros.data.synth.settings import SynthConfig

    return SynthConfig.load(path)


def _cls(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(module), name)


# name, ROS node of the file (None: plain), loader, dataclass, a partial user file, an expected-dict fix-up
FAMILIES = {
    "train_mvlm": (None, load_train_mvlm, ("langtrack_ros.training.trainer", "TrainConfig"),
                   {"optim": {"lr": 1.0e-3}, "sampling": {"p_flip": 0.0},
                    "data": {"sources": [{"kind": "synth", "split": "train", "num_sequences": 200}]}},
                   with_resolved_sources),
    "train_vlt": (None, load_train_vlt, ("langtrack_ros.vlt.config", "VLTFileConfig"),
                  {"search": {"population": 6}, "retrain": {"optim": {"lr": 2.0e-3}}, "device": "cpu",
                   "data": {"source_defaults": {"num_sequences": 50}}},
                  with_resolved_sources),
    "vlt_tracker": ("langtrack_vlt_tracker", load_vlt_tracker, ("langtrack_ros.vlt.tracker", "VLTTrackerConfig"),
                    {"penalty_k": 0.2, "window_influence": 0.45}, None),
    "eval": ("langtrack_eval", load_eval, ("langtrack_ros.evaluation.harness", "EvalSettings"),
             {"events": {"lock_window": 9}, "conventions": {"synth": "pytracking"}}, None),
    "demo": (None, load_demo, ("langtrack_ros.commands.demo", "DemoConfig"), {"length": 60, "fps": 10}, None),
    "synth": (None, load_synth, ("langtrack_ros.data.synth.settings", "SynthConfig"),
              {"width": 320, "splits": {"hard": {"difficulty": {"p_twin": 0.6}}}}, None),
}


def write_user(tmp_path: Path, name: str, data: dict, as_node: bool = False) -> Path:
    node = FAMILIES[name][0]
    path = tmp_path / f"user_{name}.yaml"
    path.write_text(yaml.safe_dump({node: {"ros__parameters": data}} if node and as_node else data))
    return path


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_partial_user_file_gives_the_packaged_yaml_with_the_users_keys(tmp_path, name):
    node, load, _, user, fix = FAMILIES[name]
    expected = deep_update(packaged(name, node), user)
    expected = fix(expected) if fix else expected
    for as_node in ((False, True) if node else (False,)):
        got = plain(load(write_user(tmp_path, name, user, as_node)))
        assert got == json.loads(json.dumps(expected)), name


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_packaged_file_alone_is_what_loading_with_no_user_file_gives(name):
    node, load, _, _, fix = FAMILIES[name]
    expected = packaged(name, node)
    assert plain(load(None)) == json.loads(json.dumps(fix(expected) if fix else expected))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_an_unknown_key_names_the_key_and_the_file(tmp_path, name):
    _, load, _, user, _ = FAMILIES[name]
    section = next(k for k, v in user.items() if isinstance(v, dict)) if any(
        isinstance(v, dict) for v in user.values()) else None
    bad = {section: {"no_such_key": 1}} if section else {"no_such_key": 1}
    path = write_user(tmp_path, name, bad)
    with pytest.raises(ConfigError, match="no_such_key") as err:
        load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_missing_section_or_key_is_a_config_error_not_a_type_error(name):
    node, _, (module, cls_name), _, fix = FAMILIES[name]
    cls = _cls(module, cls_name)
    data = packaged(name, node)
    data = fix(data) if fix else data
    for key in data:
        partial = {k: v for k, v in data.items() if k != key}
        with pytest.raises(ConfigError, match=rf"missing key\(s\) \['{key}'\].*config/\*\.yaml"):
            from_dict(cls, partial, name)


@pytest.mark.parametrize("section", ["supernet", "retrain", "search", "data", "sampling", "loss", "model"])
def test_a_vlt_stage_config_missing_a_shared_section_says_which(section):
    """VLTFileConfig and StageConfig once filled sections through default_factory: a section left
    out raised a TypeError from a nested dataclass; now the missing key is named."""
    from langtrack_ros.vlt.config import StageConfig, VLTFileConfig

    data = with_resolved_sources(packaged("train_vlt"))
    with pytest.raises(ConfigError, match=rf"missing key\(s\) \['{section}'\]"):
        from_dict(VLTFileConfig, {k: v for k, v in data.items() if k != section})
    stage = {**{k: data[k] for k in ("seed", "threads", "device", "precision", "model", "data", "sampling", "loss",
                                     "checkpoint", "logging")}, "optim": data["supernet"]["optim"],
             "stage": "supernet", "init": ""}
    if section in stage:
        with pytest.raises(ConfigError, match=rf"missing key\(s\) \['{section}'\]"):
            from_dict(StageConfig, {k: v for k, v in stage.items() if k != section})


def test_a_source_entry_with_an_unknown_key_names_the_entry_and_the_file(tmp_path):
    from langtrack_ros.training.trainer import load_train_config

    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump({"data": {"sources": [{"kind": "synth"}, {"kind": "synth", "wieght": 2.0}]}}))
    with pytest.raises(ConfigError, match=r"data\.sources\[1\].*unknown key 'wieght'") as err:
        load_train_config(path)
    assert str(path) in str(err.value)


def test_a_run_config_saved_before_sizes_left_sampling_still_resumes(tmp_path, caplog):
    """A run's saved train_config.yaml from before issue 7 carries sampling.search_size: null and no
    data.source_defaults; ``langtrack train mvlm --resume`` reads it as the user file."""
    from langtrack_ros.training.trainer import load_train_config, plain_config

    current = plain_config(load_train_config(REPO / "config" / "train_mvlm.yaml"))
    old = {**current, "sampling": {**current["sampling"], "search_size": None},
           "data": {k: v for k, v in current["data"].items() if k != "source_defaults"}}
    path = tmp_path / "train_config.yaml"
    path.write_text(yaml.safe_dump(old, sort_keys=False))
    with caplog.at_level(logging.INFO, logger="langtrack_ros.training.trainer"):
        assert plain_config(load_train_config(path)) == current
    assert "search_size" in caplog.text


def test_every_convention_is_a_known_protocol_spelled_out_in_full():
    """Conventions are metric-protocol definitions, not settings: each names every field itself."""
    from langtrack_ros.evaluation.metrics import CONVENTIONS, Convention

    source = (PACKAGE / "evaluation" / "metrics.py").read_text()
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)
             and getattr(n.func, "id", None) == "Convention"]
    names = {f.name for f in dataclasses.fields(Convention)}
    assert len(calls) == len(CONVENTIONS) and all({k.arg for k in c.keywords} == names for c in calls)
    assert set(packaged("eval", "langtrack_eval")["conventions"].values()) <= set(CONVENTIONS)


# ----------------------------------------------------------------------------- model files

def mvlm_model_files() -> list[Path]:
    return sorted((REPO / "models").glob("*.safetensors"))


def git_model(tmp_path_factory, rev: str, path: str) -> Path:
    """A model file as committed at ``rev`` (what ``langtrack ablation`` loads via git:REV:PATH)."""
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    result = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"git revision {rev} not available here ({result.stderr.decode().strip()})")
    target = tmp_path_factory.mktemp("git") / f"{rev}-{Path(path).name}"
    target.write_bytes(result.stdout)
    return target


def test_keys_added_after_mvlm_1_are_the_values_older_files_were_always_read_with():
    """These were MVLMConfig's code defaults for hf_model / text_encoder before issue 7, so every
    file that predates them (all shipped models) loads exactly as it did."""
    from langtrack_ros.tracking.network import KEYS_ADDED_AFTER_MVLM_1

    assert KEYS_ADDED_AFTER_MVLM_1 == {"hf_model": "", "text_encoder": "minilm"}


def assert_loads_as_embedded(path: Path, caplog) -> None:
    from langtrack_ros.tracking.network import KEYS_ADDED_AFTER_MVLM_1
    from langtrack_ros.training import checkpoint as ckpt

    _, metadata = ckpt.read_model_file(path)
    embedded = json.loads(metadata["config"])
    filled = {k: v for k, v in KEYS_ADDED_AFTER_MVLM_1.items() if k not in embedded}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="langtrack_ros.tracking.network"):
        model = ckpt.load_model(path)
    assert dataclasses.asdict(model.cfg) == {**embedded, **filled}
    assert all(k in caplog.text for k in filled), "filling a key an old file lacks must be logged"


@pytest.mark.parametrize("path", mvlm_model_files(), ids=lambda p: p.name)
def test_every_shipped_mvlm_model_loads_with_its_embedded_config(path, caplog):
    assert_loads_as_embedded(path, caplog)


def test_the_previous_default_model_in_git_loads_with_its_embedded_config(tmp_path_factory, caplog):
    assert_loads_as_embedded(git_model(tmp_path_factory, "840aa53", "models/mvlm_default.safetensors"), caplog)


@pytest.mark.parametrize("path", sorted((REPO / "models" / "vlt").rglob("*.safetensors")), ids=lambda p: p.name)
def test_every_shipped_vlt_model_loads_with_its_embedded_config(path):
    from langtrack_ros.training import checkpoint as ckpt
    from langtrack_ros.vlt.config import VLT_FORMAT
    from langtrack_ros.vlt.train import fill_vlt_keys_added_later, load_vlt

    _, metadata = ckpt.read_model_file(path, VLT_FORMAT)  # files older than model.stem: the scratch stem
    assert plain(load_vlt(path).cfg) == fill_vlt_keys_added_later(json.loads(metadata["config"]), str(path))


def test_an_exported_config_without_the_later_keys_means_minilm(caplog):
    """ONNX exports carry the config dict; an older one (or none at all) gets the same table."""
    from langtrack_ros.tracking.text_encoder import backend_model_config

    class Exported:
        path = "old.onnx"
        config = {"max_text_tokens": 16}

    with caplog.at_level(logging.INFO, logger="langtrack_ros.tracking.network"):
        cfg = backend_model_config(Exported())
    assert cfg == {"max_text_tokens": 16, "hf_model": "", "text_encoder": "minilm"}
    assert "old.onnx" in caplog.text
