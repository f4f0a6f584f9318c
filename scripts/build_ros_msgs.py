"""Build an interface package (langtrack_msgs) with the ROS 2 wheels' own ament/rosidl tools and
install it into this venv, so rclpy finds it with no environment variables.

Run with the venv's interpreter (scripts/setup.sh --dev does): ``python scripts/build_ros_msgs.py
[SOURCE] [--prefix DIR]``. The install prefix defaults to the venv itself (``sys.prefix``): the
wheels keep their libraries in ``<venv>/lib`` and ros-wheels-bootstrapper puts that folder on
LD_LIBRARY_PATH, so the built type support loads like the wheels' own.

Two traps of the PyPI wheels, handled here:
- ``rosidl generate -t py`` writes nothing ("duplicate entry point 'py'"), so we build with cmake
  (``rosidl_generate_interfaces``), as a ROS install would;
- the wheels' ``*__rosidl_generator_pyExport.cmake`` files name the wheel build machine's Python and
  numpy include folders (/opt/python/cp311-cp311/...); we point them at this venv's first.

The build is skipped when a stamp (hash of the package sources and the wheel versions) matches.
Exit status 1 with one line on stderr when a step fails; the full log is kept in the build folder.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

EXPORT_GLOB = "share/*/cmake/*__rosidl_generator_pyExport.cmake"
INCLUDE_LINE = re.compile(r'(INTERFACE_INCLUDE_DIRECTORIES\s+")([^"]*)(")')


def python_includes() -> tuple[str, str]:
    import numpy

    return sysconfig.get_paths()["include"], numpy.get_include()


def fix_export_files(prefix: Path) -> int:
    """Point every foreign Python/numpy include folder in the wheels' export files at ours; returns
    how many files changed (0 on a second run)."""
    py_inc, np_inc = python_includes()

    def local(path: str) -> str:
        if path.startswith(sys.prefix) or Path(path).exists():
            return path
        if re.search(r"numpy/(_core|core)/include$", path):
            return np_inc
        if re.search(r"include/python3\.\d+$", path):
            return py_inc
        return path

    changed = 0
    for export in sorted(prefix.glob(EXPORT_GLOB)):
        text = export.read_text()
        new = INCLUDE_LINE.sub(lambda m: m[1] + ";".join(local(p) for p in m[2].split(";")) + m[3], text)
        if new != text:
            export.write_text(new)
            changed += 1
    return changed


def fingerprint(source: Path) -> str:
    """Sources of the package plus the versions of the ROS wheels it is built against."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    wheels = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                    if (d.metadata["Name"] or "").lower().startswith("ros-"))
    digest.update("\n".join(wheels).encode())
    return digest.hexdigest()


def run(step: str, cmd: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        # the ament index (which typesupports exist) is looked up on AMENT_PREFIX_PATH: the wheels' prefix
        env = {**os.environ, "AMENT_PREFIX_PATH": sys.prefix}
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{step} failed (exit {done.returncode}): {why(log)} (full log: {log})")


def why(log: Path) -> str:
    """The most telling line of a failed step: the innermost error message, else the last line."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"(?i)(error\b|.*\berror:|.*Error processing)", line)
              and not line.startswith("CMake Error")]
    return (errors or [line for line in lines if line.startswith("CMake Error")] or lines[-1:] or [""])[0]


def build(source: Path, prefix: Path, build_root: Path) -> str:
    name = source.name
    stamp = prefix / "share" / name / ".langtrack-build-stamp"
    want = fingerprint(source)
    if stamp.is_file() and stamp.read_text() == want:
        return f"{name} up to date in {prefix}"
    fixed = fix_export_files(Path(sys.prefix))  # where the wheels are
    build_dir = build_root / name
    build_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / "build.log"
    log.write_text(f"export files fixed: {fixed}\n")
    run("cmake configure", ["cmake", "-S", str(source), "-B", str(build_dir), "-G", "Unix Makefiles",
                            f"-DCMAKE_INSTALL_PREFIX={prefix}", f"-DCMAKE_PREFIX_PATH={sys.prefix}",
                            f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"], log)
    run("cmake build", ["cmake", "--build", str(build_dir), "-j2"], log)
    run("cmake install", ["cmake", "--install", str(build_dir)], log)
    stamp.write_text(want)
    return f"{name} built and installed into {prefix}"


def main(argv=None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", type=Path, default=repo / "langtrack_msgs")
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix))
    parser.add_argument("--build-dir", type=Path, default=repo / "build" / "ros")
    args = parser.parse_args(argv)
    try:
        print(build(args.source.resolve(), args.prefix.resolve(), args.build_dir.resolve()), file=sys.stderr)
    except (RuntimeError, OSError, ImportError) as exc:
        print(f"building {args.source.name} with the ROS 2 wheels failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
