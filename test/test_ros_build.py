"""scripts/build_ros_msgs.py without a build: the export-file rewrite (a trap of the PyPI ROS 2
wheels), the cache fingerprint and the one-line failure reason."""
import platform
import sys
import sysconfig
from pathlib import Path

import numpy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import build_ros_msgs as b  # noqa: E402

WHEEL_LINE = ('  INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
              '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include;${_IMPORT_PREFIX}/include"\n')


def test_export_files_are_pointed_at_this_pythons_include_folders(tmp_path):
    export = tmp_path / "share" / "std_msgs" / "cmake" / "export_std_msgs__rosidl_generator_pyExport.cmake"
    export.parent.mkdir(parents=True)
    export.write_text("set_target_properties(std_msgs::x PROPERTIES\n" + WHEEL_LINE + ")\n")
    assert b.fix_export_files(tmp_path) == 1
    text = export.read_text()
    assert "/opt/python" not in text
    assert f'"{sysconfig.get_paths()["include"]};{numpy.get_include()};${{_IMPORT_PREFIX}}/include"' in text
    assert b.fix_export_files(tmp_path) == 0  # a second setup run changes nothing


@pytest.mark.skipif(not (sys.platform == "linux" and platform.machine() == "x86_64"),
                    reason="PyPI has ROS 2 wheels for Linux x86_64 only")
def test_the_installed_wheels_were_fixed():
    """What setup.sh --dev did to this venv (the tier's own export files)."""
    exports = list(Path(sys.prefix).glob(b.EXPORT_GLOB))
    assert exports, "no ROS 2 wheels in this venv: run `bash scripts/setup.sh --dev`"
    assert not [p for p in exports if "/opt/python/" in p.read_text()]


def test_fingerprint_follows_the_sources(tmp_path):
    (tmp_path / "msg").mkdir()
    (tmp_path / "msg" / "A.msg").write_text("float32 x\n")
    first = b.fingerprint(tmp_path)
    (tmp_path / "msg" / "A.msg").write_text("float64 x\n")
    assert b.fingerprint(tmp_path) != first


def test_a_failed_step_is_reported_by_its_error_line(tmp_path):
    log = tmp_path / "build.log"
    log.write_text("-- Found ament_cmake\nCMake Error at x.cmake:57 (message):\n  returned error code 1:\n"
                   "  Error processing 'flot32 oops' of 'pkg/T': ''flot32'\n-- Configuring incomplete\n")
    assert b.why(log).startswith("Error processing 'flot32 oops'")
