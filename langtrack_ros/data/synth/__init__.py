"""LangTrack-Synth: procedural, language-annotated tracking sequences (training and test data).

Public API: ``SynthConfig``, ``generate_sequence``, ``SynthSequence``, ``render_frame``,
``export_lasot`` (LaSOT layout + query_switches.txt); ROS 2 bags in ``langtrack_ros.data.bag_export``.
"""
from .generator import SynthSequence, default_config, generate_sequence, render_frame
from .settings import SPLITS, SynthConfig

__all__ = ["SPLITS", "SynthConfig", "SynthSequence", "default_config", "generate_sequence", "render_frame"]
