"""Settings for tests, built from the packaged config/*.yaml (the settings dataclasses have no code
defaults): a test names only the values it is about, the rest are the shipped defaults."""
from langtrack_ros.config import from_dict, load_merged, merge, to_dict
from langtrack_ros.tracking.gate import GateConfig
from langtrack_ros.tracking.network import MVLMConfig, load_mvlm_config
from langtrack_ros.tracking.tracker import SearchConfig
from langtrack_ros.training.losses import LossWeights
from langtrack_ros.training.sampling import SamplingConfig, SourceConfig

# The reference's main gate (alpha 1.0, tau 0.1, omega 0.4, lambda 0.4, psi_out 0): what the gate
# tests were written against, given explicitly now that GateConfig has no code defaults.
REFERENCE_GATE = {"alpha": 1.0, "tau": 0.1, "omega": 0.4, "lambda": 0.4, "psi_out": 0.0}


def tracker_yaml() -> dict:
    return load_merged("tracker", node="langtrack_tracker")


def gate_config(**values) -> GateConfig:
    """config/tracker.yaml's gate with ``values`` (``lam`` or ``lambda``) over it."""
    if "lam" in values:
        values["lambda"] = values.pop("lam")
    return GateConfig.from_params(merge(tracker_yaml()["gate"], values, "test gate"))


def search_config(**values) -> SearchConfig:
    return from_dict(SearchConfig, merge(tracker_yaml()["search"], values, "test search"))


# What the trainer and sampling tests were written against (small, fast runs: no validation set,
# nothing frozen, no stretch), given explicitly now that the training dataclasses have no code
# defaults; the packaged file's values for everything else.
SMALL_RUN = {
    "seed": 0, "threads": 0,
    "model": {"preset": "", "overrides": {}, "pretrained_tokenizer": True, "init": ""},
    "data": {"seed": 0, "val_sources": [], "val_samples": 0, "num_workers": 0, "sequence_cache": 64},
    "sampling": {"p_roi": 0.5, "p_whole": 0.3, "p_negative": 0.2, "p_stretch": 0.0, "samples_per_sequence": 1},
    "optim": {"weight_decay": 0.0, "grad_clip": 0.0, "accum_steps": 1, "frozen_prefixes": [], "slow_prefixes": [],
              "slow_lr_mult": 1.0, "schedule": "cosine", "warmup_steps": 0, "min_lr_ratio": 0.0, "milestones": [],
              "gamma": 0.1, "max_bad_steps": 0},
    "checkpoint": {"every": 0, "keep": 3},
    "logging": {"every": 10, "val_every": 0, "progress": True},
}


def train_yaml(data: dict | None = None) -> dict:
    """config/train_mvlm.yaml, then SMALL_RUN, then the test's (partial) mapping over it."""
    return merge(merge(load_merged("train_mvlm"), SMALL_RUN, "SMALL_RUN"), data or {}, "test train config")


def sampling_config(**values) -> SamplingConfig:
    return from_dict(SamplingConfig, train_yaml({"sampling": values})["sampling"])


def source_config(**values) -> SourceConfig:
    """config/train_mvlm.yaml's data.source_defaults with ``values`` over it."""
    return from_dict(SourceConfig, merge(load_merged("train_mvlm")["data"]["source_defaults"], values, "test source"))


def loss_weights(**values) -> LossWeights:
    return from_dict(LossWeights, train_yaml({"loss": values})["loss"])


def reference_gate(**values) -> GateConfig:
    """The reference's main gate (REFERENCE_GATE) with ``values`` over it."""
    return gate_config(**{**REFERENCE_GATE, **values})


def mvlm_config(**values) -> MVLMConfig:
    """config/mvlm_model.yaml's ``small`` preset (what MVLMConfig's code defaults were) with ``values`` over it."""
    return from_dict(MVLMConfig, merge(to_dict(load_mvlm_config("small")), values, "test model"))


def vlt_yaml(data: dict | None = None) -> dict:
    """config/train_vlt.yaml with the test's (partial) mapping over it."""
    return merge(load_merged("train_vlt"), data or {}, "test vlt config")


def pair_sampling(**values):
    """config/train_vlt.yaml's sampling with ``values`` over it."""
    from langtrack_ros.vlt.data import PairSamplingConfig

    return from_dict(PairSamplingConfig, vlt_yaml({"sampling": values})["sampling"])


def vlt_loss_weights(**values):
    from langtrack_ros.vlt.loss import VLTLossWeights

    return from_dict(VLTLossWeights, vlt_yaml({"loss": values})["loss"])
