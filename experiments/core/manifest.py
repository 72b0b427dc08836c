"""What a run needs to be reproduced: command, code version, packages, data, machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata

from experiments.core.data import PROJECT_ROOT

PACKAGES = (
    "numpy", "pandas", "scipy", "scikit-learn", "scikit-image", "opencv-python-headless",
    "matplotlib", "joblib", "tqdm", "statsmodels", "dlib-bin", "face-recognition-models",
    "xgboost-cpu", "xgboost", "tensorflow-cpu", "tensorflow", "keras",
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_commit() -> dict:
    """HEAD commit and whether the working tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD") or None
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def cpu_info() -> dict:
    model = platform.processor() or None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "logical_cores": os.cpu_count(), "usable_cores": usable}


def environment() -> dict:
    """Everything about the machine and software that a run's numbers depend on."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_info(),
        "packages": package_versions(),
        "git": git_commit(),
    }
