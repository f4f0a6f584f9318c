"""Evolutionary architecture search over the trained supernet (SPOS / VLT.md), a resumable job.

Generation 0 is ``population`` random architectures; every later generation is ``mutations``
mutants and ``crossovers`` children of the ``top_k`` best seen so far. A candidate's fitness is
the success AUC of the VLT tracker (ground-truth first box) on the first ``val_frames`` frames of
a fixed set of validation sequences, after its BatchNorm statistics were recalibrated on fixed
training batches with that path. Candidates over ``max_mflops`` (multiply-accumulates of one
template + one search pass, the unit SPOS and VLT call FLOPs) are redrawn, never evaluated.

Files in the stage folder: ``candidates.jsonl`` (every candidate: generation, architecture,
fitness, MFLOPs), ``search_state.json`` (written atomically after each generation: top-k and the
next generation), ``fitness.png`` (fitness per generation) and ``architecture.json`` (the best).
Generation g draws from ``rng([seed, g])``, so a killed search resumes to the same result; a
resume with a different search space, search settings or supernet is refused with the reason.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch

from langtrack_ros.config import ConfigError, from_dict, to_dict
from langtrack_ros.training.sampling import SourceConfig, TextFeatureCache, build_source, fixed_batches
from langtrack_ros.training.trainer import TrainResult, _stop_signals
from langtrack_ros.vlt.arch import Architecture, search_space
from langtrack_ros.vlt.config import VLTFileConfig
from langtrack_ros.vlt.data import SentenceVectors, VLTPairs, collate_pairs
from langtrack_ros.vlt.measures import count_mflops, plot_fitness, recalibrate_bn

LOG = logging.getLogger(__name__)
STATE, LOG_FILE, BEST, PLOT = "search_state.json", "candidates.jsonl", "architecture.json", "fitness.png"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class SearchJob:
    desc = "search vlt"

    def __init__(self, cfg: VLTFileConfig, run_dir, supernet: str | Path, resume: bool = False,
                 text_encoder=None, on_progress=None, val_sequences=None):
        from langtrack_ros.vlt.train import load_vlt

        self.cfg, self.s, self.run_dir, self.on_progress = cfg, cfg.search, Path(run_dir), on_progress
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.supernet_path = Path(supernet)
        self.model = load_vlt(self.supernet_path)
        if self.model.cfg.architecture is not None:
            raise ConfigError(f"{supernet} is a fixed-architecture model, not a supernet")
        self.base_state = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.blocks = tuple(self.model.cfg.stage_blocks)
        self.header = {"space": search_space(self.blocks, self.s.symmetric), "search": to_dict(self.s),
                       "supernet": _file_digest(self.supernet_path), "tracker": cfg.tracker}
        self.state = self._load_state(resume)
        self.logged = self._read_log() if resume else {}
        if not resume:
            (self.run_dir / LOG_FILE).write_text("")
            self._write_state()  # the header is on disk before any candidate: a resume is always checked
        self._stop = threading.Event()
        self._text_encoder = text_encoder
        self._val_sequences = val_sequences
        self._sources = None  # in-memory training sources (tests); else cfg.data.sources
        self.mflops: dict[str, float] = {}

    # --- state -------------------------------------------------------------------------------
    def _load_state(self, resume: bool) -> dict:
        path = self.run_dir / STATE
        if not resume:
            if path.exists():
                raise ConfigError(f"{self.run_dir} already holds a search: pass --resume or use a new --run-dir")
            return {**self.header, "generation": 0, "top": [], "candidates": None, "history": []}
        if not path.is_file():
            LOG.warning("--resume: no search state in %s; starting from generation 0", self.run_dir)
            return {**self.header, "generation": 0, "top": [], "candidates": None, "history": []}
        state = json.loads(path.read_text())
        for key in ("space", "search", "supernet", "tracker"):
            if state.get(key) != self.header[key]:
                raise ConfigError(f"--resume refused: the saved search's {key} differs from this one "
                                  f"(saved {state.get(key)!r}, now {self.header[key]!r}); use a new --run-dir")
        return state

    def _write_state(self) -> None:
        tmp = self.run_dir / f".{STATE}.tmp"
        tmp.write_text(json.dumps(self.state, indent=1))
        os.replace(tmp, self.run_dir / STATE)

    def _read_log(self) -> dict:
        """(generation, key) -> entry from candidates.jsonl; a torn last line (kill) is dropped."""
        path, entries, lines = self.run_dir / LOG_FILE, {}, []
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    LOG.warning("dropping a torn line of %s", path)
                    continue
                entries[(e["generation"], e["key"])] = e
                lines.append(line)
            path.write_text("".join(f"{l}\n" for l in lines))
        return entries

    # --- data ----------------------------------------------------------------------------------
    def _prepare(self) -> None:
        from langtrack_ros.tracking.text_encoder import TextEncoder

        encoder = self._text_encoder or TextEncoder(max_tokens=self.model.cfg.max_text_tokens)
        self.text_encoder = encoder
        self.vectors = SentenceVectors(TextFeatureCache(encoder))
        sources = self._sources or [build_source(from_dict(SourceConfig, s), self.cfg.data.sequence_cache)
                                    for s in self.cfg.data.sources if s["weight"] > 0]
        m = self.cfg.model
        pairs = VLTPairs(sources, self.cfg.sampling, self.cfg.data.seed + 2, m.template_size, m.search_size)
        self.bn_batches = fixed_batches(pairs, self.s.bn_batches * self.s.bn_batch_size, self.s.bn_batch_size,
                                        collate_pairs)
        if self._val_sequences is None:
            from langtrack_ros.data.synth import generate_sequence
            from langtrack_ros.evaluation.harness import truncate

            self._val_sequences = [truncate(generate_sequence(i, self.s.val_split).to_sequence(), self.s.val_frames)
                                   for i in range(self.s.val_sequences)] + self._real_val_sequences()

    def _real_val_sequences(self) -> list:
        """``search.val_real``: dataset sources whose sequences join the fitness set (``val_sequences``
        of each, evenly spaced over the source so every category is in it, first ``val_frames`` frames)."""
        from langtrack_ros.evaluation.harness import truncate

        out = []
        for entry in self.s.val_real:
            cfg = from_dict(SourceConfig, {**self.cfg.data.source_defaults, **entry}, "search.val_real")
            source = build_source(cfg, 1)
            picks = np.unique(np.linspace(0, len(source) - 1, min(self.s.val_sequences, len(source))).round().astype(int))
            out += [truncate(source[int(i)], self.s.val_frames) for i in picks]
        return out

    # --- fitness -------------------------------------------------------------------------------
    def fitness(self, arch: Architecture) -> float:
        from langtrack_ros.evaluation import metrics
        from langtrack_ros.evaluation.harness import run_sequence
        from langtrack_ros.vlt.tracker import VLTTracker, load_vlt_settings

        self.model.load_state_dict(self.base_state)
        recalibrate_bn(self.model, arch, self.bn_batches, self.vectors)
        tracker = VLTTracker(self.model, self.text_encoder, load_vlt_settings(**self.cfg.tracker), arch=arch)
        aucs = []
        for seq in self._val_sequences:
            run = run_sequence(tracker, seq)
            aucs.append(metrics.score_sequence(run.boxes, seq.boxes, seq.visible, "got10k", "honest",
                                               run.image_size).auc)
        return float(np.mean(aucs))

    def _mflops(self, arch: Architecture) -> float:
        if arch.key() not in self.mflops:
            self.mflops[arch.key()] = count_mflops(self.model, arch)
        return self.mflops[arch.key()]

    def _allowed(self, arch: Architecture) -> bool:
        return self.s.max_mflops <= 0 or self._mflops(arch) <= self.s.max_mflops

    # --- generations ---------------------------------------------------------------------------
    def _draw(self, make, count: int, seen: set, rng) -> list[Architecture]:
        out, tries = [], 0
        while len(out) < count and tries < 50 * max(count, 1):
            tries += 1
            arch = make(rng)
            if arch is None or arch.key() in seen or not self._allowed(arch):
                continue
            seen.add(arch.key())
            out.append(arch.validate(self.blocks))
        return out

    def _next_generation(self, g: int) -> list[Architecture]:
        rng, s, sym = np.random.default_rng([self.s.seed, g]), self.s, self.s.symmetric
        if g == 0:
            return self._draw(lambda r: Architecture.random(r, self.blocks, sym), s.population, set(), rng)
        top = [Architecture.from_dict(t["arch"], self.blocks) for t in self.state["top"]]
        seen = {key for (gen, key) in self.logged if gen < g}  # never re-evaluate an earlier candidate
        pick = lambda r: top[r.integers(len(top))]  # noqa: E731
        kids = self._draw(lambda r: pick(r).mutate(r, s.mutation_prob, sym), s.mutations, seen, rng)
        kids += self._draw(lambda r: pick(r).crossover(pick(r), r, sym) if len(top) > 1 else None,
                           s.crossovers, seen, rng)
        return kids

    def request_stop(self) -> None:
        self._stop.set()

    def train(self) -> TrainResult:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        self._prepare()
        writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.state["generation"] or None)
        bar = tqdm(total=self.s.generations, initial=self.state["generation"], desc=self.desc,
                   disable=not self.cfg.logging.progress)
        try:
            with _stop_signals(self.request_stop):
                while self.state["generation"] < self.s.generations and not self._stop.is_set():
                    if not self._generation(writer):
                        break
                    bar.update(1)
        finally:
            bar.close()
            writer.close()
        done = self.state["generation"] >= self.s.generations
        best = self.state["top"][0] if self.state["top"] else None
        metrics = {"best_fitness": best["fitness"]} if best else {}
        if not done:
            LOG.warning("search stopped at generation %d of %d; continue with --resume",
                        self.state["generation"], self.s.generations)
            return TrainResult(self.state["generation"], False, None, metrics)
        return TrainResult(self.state["generation"], True, self._finish(), metrics)

    def _generation(self, writer) -> bool:
        """Evaluate one generation; False when stopped part-way (state not advanced)."""
        g = self.state["generation"]
        cands = [Architecture.from_dict(a, self.blocks) for a in self.state["candidates"]] \
            if self.state["candidates"] is not None else self._next_generation(g)
        self.state["candidates"] = [a.to_dict() for a in cands]
        scored = []
        for arch in cands:
            if self._stop.is_set():
                return False
            scored.append(self._evaluate(g, arch))
        pool = {t["key"]: t for t in self.state["top"]}
        for e in scored:
            pool[e["key"]] = {"key": e["key"], "arch": e["arch"], "fitness": e["fitness"], "mflops": e["mflops"]}
        self.state["top"] = sorted(pool.values(), key=lambda t: (-t["fitness"], t["key"]))[:self.s.top_k]
        fits = [e["fitness"] for e in scored]
        summary = {"generation": g, "candidates": len(scored), "best": max(fits, default=float("nan")),
                   "mean": float(np.mean(fits)) if fits else float("nan"), "top_best": self.state["top"][0]["fitness"]}
        self.state["history"].append(summary)
        for k in ("best", "mean", "top_best"):
            writer.add_scalar(f"search/{k}", summary[k], g)
        LOG.info("generation %d: %d candidates, best %.4f, mean %.4f, best so far %.4f", g, len(scored),
                 summary["best"], summary["mean"], summary["top_best"])
        self.state["generation"], self.state["candidates"] = g + 1, None
        self._write_state()
        if self.on_progress is not None:
            self.on_progress(g + 1, self.s.generations, {"total": summary["top_best"]})
        return True

    def _evaluate(self, g: int, arch: Architecture) -> dict:
        key = arch.key()
        if (g, key) in self.logged:
            return self.logged[(g, key)]
        t0 = time.perf_counter()
        known = next((e for e in self.logged.values() if e["key"] == key), None)
        fitness = known["fitness"] if known else self.fitness(arch)
        entry = {"generation": g, "key": key, "fitness": fitness, "mflops": round(self._mflops(arch), 3),
                 "seconds": round(time.perf_counter() - t0, 2), "arch": arch.to_dict()}
        with open(self.run_dir / LOG_FILE, "a") as f:
            f.write(json.dumps({k: v for k, v in entry.items() if k != "seconds"}) + "\n")
        self.logged[(g, key)] = entry
        return entry

    def _finish(self) -> Path:
        best = self.state["top"][0]
        arch = Architecture.from_dict(best["arch"], self.blocks)
        path = arch.save(self.run_dir / BEST, {"fitness_success_auc": best["fitness"], "mflops": best["mflops"],
                                              "generations": self.s.generations, "supernet": str(self.supernet_path)})
        plot_fitness(self.run_dir / LOG_FILE, self.run_dir / PLOT)
        LOG.info("best architecture %s (fitness %.4f) -> %s", best["key"], best["fitness"], path)
        return path
