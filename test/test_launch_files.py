"""The launch files' own Python, run against fake ``launch`` modules (no ROS here): arguments come
from config/*.yaml and the topic table, remaps and recorded topics follow adapters/topics.py,
typed parameters reach the nodes with the YAML's types (issue 7)."""
import pytest

import fake_launch
from langtrack_ros.adapters import parameters as params
from langtrack_ros.adapters import topics


@pytest.fixture
def launch(monkeypatch):
    fake_launch.install(monkeypatch)
    return fake_launch


def _one(entities, kind):
    found = [e for e in entities if type(e).__name__ == kind]
    assert len(found) == 1, [type(e).__name__ for e in entities]
    return found[0]


def test_tracker_launch_remaps_the_relative_names_of_the_topic_table(launch):
    entities, _ = launch.run(launch.load("tracker"), namespace="/robot", query="the red cup")
    node = _one(entities, "Node").kwargs
    assert node["namespace"] == "/robot"
    assert node["remappings"] == [(topics.IMAGE, topics.CAMERA), (topics.COMPRESSED, topics.CAMERA + "/compressed"),
                                  (topics.QUERY, topics.QUERY)]
    config, node_yaml, overrides = node["parameters"]
    assert config.endswith("config/tracker.yaml") and node_yaml.endswith("config/tracker_node.yaml")
    assert overrides == {"initial_query": "the red cup"}  # empty arguments keep the YAML (autostart too)


def test_tracker_launch_with_a_lifecycle_manager_does_not_autostart(launch):
    entities, _ = launch.run(launch.load("tracker"), use_lifecycle="true", image_topic="/cam/rgb")
    node = _one(entities, "LifecycleNode").kwargs
    assert node["parameters"][-1] == {"autostart": False}
    assert node["remappings"][1] == (topics.COMPRESSED, "/cam/rgb/compressed")


def test_tracker_launch_use_lifecycle_false_forces_autostart(launch):
    entities, _ = launch.run(launch.load("tracker"), use_lifecycle="false")
    assert _one(entities, "Node").kwargs["parameters"][-1] == {"autostart": True}


def test_train_launch_without_config_or_run_dir_is_one_clear_error(launch):
    with pytest.raises(RuntimeError, match="config:=... and run_dir:=..."):
        launch.run(launch.load("train"))


def test_train_launch_declares_the_yaml_parameters_and_types_the_given_ones(launch):
    entities, _ = launch.run(launch.load("train"), config="cfg.yaml", run_dir="runs/a", progress_period="2",
                             resume="true")
    declared = {e.name for e in entities if isinstance(e, launch.DeclareLaunchArgument)}
    assert declared == set(params.declared_defaults(("trainer_node",), "langtrack_trainer")) | {"namespace"}
    node_yaml, overrides = _one(entities, "Node").kwargs["parameters"]
    assert node_yaml.endswith("config/trainer_node.yaml")
    assert overrides == {"config": "cfg.yaml", "run_dir": "runs/a", "progress_period": 2.0, "resume": True}
    assert type(overrides["progress_period"]) is float


def test_replay_launch_records_the_output_topics_under_the_namespace(launch):
    entities, _ = launch.run(launch.load("replay"), bag="run1", record="run1_tracked", namespace="/lt")
    record = [e for e in entities if type(e).__name__ == "ExecuteProcess" and "record" in e.kwargs["cmd"]]
    assert record[0].kwargs["cmd"][-3:] == [f"/lt/{t}" for t in topics.OUTPUTS]
    include = _one(entities, "IncludeLaunchDescription").kwargs["launch_arguments"]
    assert "query_topic" in dict(include)


def test_what_launch_files_import_stays_light():
    """A launch process should not need rosbags, cv2 or torch to read the topic table and YAML."""
    import subprocess
    import sys

    code = ("import sys, langtrack_ros.adapters.topics, langtrack_ros.config, langtrack_ros.paths; "
            "print(sorted(m for m in ('rosbags', 'cv2', 'torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
