"""Model soups (langtrack_ros/training/soup.py): the average of training draws of one recipe."""
import json

import pytest
import torch

from langtrack_ros.cli import main
from langtrack_ros.model_files import load_model, model_train_info, read_model_file
from langtrack_ros.tracking.network import MVLM
from langtrack_ros.training.checkpoint import save_model
from langtrack_ros.training.soup import recipe_differences, uniform_soup
from langtrack_ros.training.trainer import load_train_config, plain_config
from packaged import mvlm_config

CFG = dict(search_size=64, width=32, depth=1, heads=2, tokenizer="patch", head_channels=8)


@pytest.fixture(scope="module")
def base_state():
    """The weights every draw starts from (one initialisation)."""
    torch.manual_seed(0)
    return MVLM(mvlm_config(**CFG), pretrained_tokenizer=False).state_dict()


def _draw(tmp_path, base_state, seed: int, overrides=(), step=0.01, **cfg_changes):
    """A tiny MVLM file standing for one training draw: the base weights moved by a small step in a
    direction drawn from ``seed`` (what a short fine-tune does), recipe recorded with data.seed."""
    torch.manual_seed(seed)
    cfg = mvlm_config(**{**CFG, **cfg_changes})
    model = MVLM(cfg, pretrained_tokenizer=False)
    if not cfg_changes:
        model.load_state_dict({k: v + step * v.abs().mean() * torch.randn_like(v) if v.is_floating_point() else v
                               for k, v in base_state.items()})
    train_config = plain_config(load_train_config(None, [f"data.seed={seed}", *overrides]))
    info = {"steps": 500, "wall_s": 10.0, "val": {"loss_total": 1.0 + seed}, "train_config": train_config}
    return save_model(model, cfg, tmp_path / f"draw{seed}.safetensors", info)


def test_soup_is_the_mean_of_the_draws_and_loads_as_a_model(tmp_path, base_state):
    draws = [_draw(tmp_path, base_state, s) for s in range(3)]
    out = uniform_soup(draws, tmp_path / "soup.safetensors")
    soup, _ = read_model_file(out)
    tensors = [read_model_file(p)[0] for p in draws]
    floats = [k for k, v in soup.items() if v.is_floating_point()]
    assert floats and all(torch.allclose(soup[k], sum(t[k] for t in tensors) / 3, atol=1e-6) for k in floats)
    assert any(not torch.equal(soup[k], tensors[0][k]) for k in floats)  # really averaged, not copied
    assert all(torch.equal(soup[k], tensors[0][k]) for k in soup if k not in floats)
    load_model(out)  # config and content hash are right
    info = model_train_info(out)
    assert [i["data_seed"] for i in info["soup"]] == [0, 1, 2]
    assert info["val"] == {} and info["wall_s"] == 30.0  # no validation of its own is claimed


def test_soup_of_other_settings_records_them(tmp_path, base_state):
    draws = [_draw(tmp_path, base_state, 0), _draw(tmp_path, base_state, 1, ["sampling.p_extra=0.3"])]
    info = model_train_info(uniform_soup(draws, tmp_path / "soup.safetensors"))
    assert [i["differs_in"] for i in info["soup"]] == [{}, {"sampling.p_extra": 0.3}]


def test_soup_refuses_weights_of_another_init_another_network_and_a_single_file(tmp_path, base_state):
    a = _draw(tmp_path, base_state, 0)
    far = _draw(tmp_path, base_state, 1, step=1.0)  # as far as an independent training
    with pytest.raises(ValueError, match="not fine-tuned from one initialisation"):
        uniform_soup([a, far], tmp_path / "soup.safetensors")
    assert not (tmp_path / "soup.safetensors").exists()
    other = _draw(tmp_path, base_state, 2, width=48, heads=3)
    with pytest.raises(ValueError, match="another network"):
        uniform_soup([a, other], tmp_path / "soup.safetensors")
    with pytest.raises(ValueError, match="at least two"):
        uniform_soup([a], tmp_path / "soup.safetensors")
    with pytest.raises(FileNotFoundError):
        uniform_soup([a, tmp_path / "missing.safetensors"], tmp_path / "soup.safetensors")


def test_recipe_differences_ignore_paths_and_fill_keys_added_later():
    new = {"data": {"seed": 1, "sources": [{"kind": "dataset", "root": "/a/corpus", "weight": 0.6}]},
           "sampling": {"p_extra": 0.0}, "logging": {"progress": True}, "model": {"init": "runs/x.safetensors"}}
    old = {"data": {"seed": 0, "sources": [{"kind": "dataset", "root": "data/corpus", "weight": 0.6}]},
           "sampling": {}, "logging": {"progress": False}, "model": {"init": "models/x.safetensors"}}
    defaults = {"sampling": {"p_extra": 0.0}}
    assert recipe_differences(old, new, defaults) == []
    new["sampling"]["p_extra"] = 0.3
    assert recipe_differences(old, new, defaults) == ["sampling.p_extra"]
    new["data"]["sources"][0]["weight"] = 0.7
    assert recipe_differences(old, new, defaults) == ["data.sources", "sampling.p_extra"]


def test_soup_command_writes_the_file_or_says_why_not(tmp_path, base_state, capsys, caplog):
    draws = [_draw(tmp_path, base_state, s) for s in range(2)]
    assert main(["soup", "--out", str(tmp_path / "soup.safetensors"), *map(str, draws)]) == 0
    assert "uniform average of 2" in capsys.readouterr().out
    other = _draw(tmp_path, base_state, 2, width=48, heads=3)
    assert main(["soup", "--out", str(tmp_path / "bad.safetensors"), str(draws[0]), str(other)]) == 2
    assert "another network" in caplog.text and not (tmp_path / "bad.safetensors").exists()
    assert json.loads(read_model_file(tmp_path / "soup.safetensors")[1]["train"])["soup"][1]["data_seed"] == 1
