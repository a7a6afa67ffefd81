"""Shared setup of the TF round-trip tests (``@pytest.mark.tf``): real TensorFlow reads what gmeta
writes.

TensorFlow runs in its own interpreter, named by the environment variable GMETA_TF_PYTHON (a
python whose venv has tensorflow). Without it every ``tf``-marked test here is skipped, with the
reason. When it is set but cannot import tensorflow, the tests error (a CI that asks for the
round trip must not pass by skipping it).

Fixtures: ``tf_python`` (the checked interpreter) and ``run_tf`` (runs ``tf_check.py`` on a job,
returns its JSON result).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

ENV_VAR = "GMETA_TF_PYTHON"
HERE = os.path.dirname(os.path.abspath(__file__))
TF_CHECK = os.path.join(HERE, "tf_check.py")
RESULT_MARKER = "GMETA_TF_JSON: "
SKIP_REASON = (f"{ENV_VAR} is not set: it must name a python interpreter with tensorflow "
               f"(e.g. {ENV_VAR}=/work/tfvenv/bin/python) for the TF round-trip tests")
# The first TF import in a fresh interpreter can take tens of seconds on a cold disk.
TIMEOUT_S = float(os.environ.get("GMETA_TF_TIMEOUT", "300"))


def tf_env() -> dict:
    """The environment of the TF subprocess: CPU only, quiet, TF 2.x with legacy Keras."""
    env = dict(os.environ)
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "TF_USE_LEGACY_KERAS": "1",
                "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1"})
    env.pop("PYTHONPATH", None)  # nothing of gmeta's checkout leaks into the TF venv
    return env


def pytest_collection_modifyitems(config, items):
    if os.environ.get(ENV_VAR):
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker("tf") and str(item.fspath).startswith(HERE):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tf_python() -> str:
    """The TF interpreter of GMETA_TF_PYTHON, checked once to import tensorflow."""
    path = os.environ.get(ENV_VAR)
    if not path:
        pytest.skip(SKIP_REASON)
    try:
        proc = subprocess.run([path, "-c", "import tensorflow as tf; print(tf.__version__)"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, env=tf_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"{ENV_VAR}={path!r} cannot run: {e}", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"{ENV_VAR}={path!r} cannot import tensorflow:\n{proc.stderr[-2000:]}",
                    pytrace=False)
    return path


def run_tf_job(tf_python: str, job: dict, timeout: float = TIMEOUT_S) -> dict:
    """Runs ``tf_check.py`` on ``job`` (JSON on stdin) in the TF interpreter; its JSON result."""
    try:
        proc = subprocess.run([tf_python, TF_CHECK, "-"], input=json.dumps(job),
                              capture_output=True, text=True, timeout=timeout, env=tf_env())
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"tf_check.py ran past {timeout}s; stderr tail:\n"
                             f"{(e.stderr or '')[-3000:]}") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"tf_check.py failed (exit {proc.returncode}); stdout tail:\n"
                             f"{proc.stdout[-2000:]}\nstderr tail:\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1][len(RESULT_MARKER):])


@pytest.fixture
def run_tf(tf_python):
    """``run_tf(job) -> result``: see tf_check.py for the job and result formats."""

    def run(job: dict, timeout: float = TIMEOUT_S) -> dict:
        return run_tf_job(tf_python, job, timeout)

    return run
