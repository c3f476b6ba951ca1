"""Start the kernels of ``pytest --nbval`` with a fixed PYTHONHASHSEED that differs from the build's.

``notebooks/build.py`` stores each notebook's outputs from a kernel with PYTHONHASHSEED set to
its ``BUILD_HASH_SEED``, and nbval executes the notebook again here in a kernel with
``NBVAL_HASH_SEED``. nbval compares every stored text output with the fresh one, so text whose
order follows string hashing (such as a set printed in iteration order) fails the cell.
tests/test_determinism.py checks that the two seeds differ and that the build uses its seed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest
from nbval.plugin import IPyNbCell

KERNEL_REPLY_TIMEOUT_S = 60


def load_build_script():
    """Import notebooks/build.py under the module name that the tests use, so both share one copy.

    tests/lesson_notebooks.py has the same loader, but this file cannot import it, because
    tests/test_determinism.py runs a copy of this file with build.py alone in a temporary folder.
    """
    if "qlesson_build" in sys.modules:
        return sys.modules["qlesson_build"]
    spec = importlib.util.spec_from_file_location("qlesson_build", Path(__file__).with_name("build.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["qlesson_build"] = module  # dataclasses look up their module in sys.modules.
    spec.loader.exec_module(module)
    return module


NBVAL_HASH_SEED = load_build_script().NBVAL_HASH_SEED


def kernel_hash_seed(kernel) -> str:
    """Return the repr of PYTHONHASHSEED in a running nbval kernel's environment, without running a cell."""
    reply = kernel.kc.execute("", silent=True, store_history=False, reply=True, timeout=KERNEL_REPLY_TIMEOUT_S,
                              user_expressions={"seed": "__import__('os').environ.get('PYTHONHASHSEED')"})
    # Read this request's IOPub messages up to its "idle" status before nbval reads the first cell's.
    kernel.await_idle(reply["parent_header"]["msg_id"], KERNEL_REPLY_TIMEOUT_S)
    result = reply["content"]["user_expressions"]["seed"]
    if result["status"] != "ok":
        raise RuntimeError(f"reading PYTHONHASHSEED in the notebook's kernel failed: {result}")
    return result["data"]["text/plain"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """Start a notebook's kernel with PYTHONHASHSEED=NBVAL_HASH_SEED and check that it has that seed.

    nbval 0.11 starts the kernel in the setup of the notebook's collector, which pytest runs as part
    of the first cell's setup. jupyter_client copies this process's environment when it starts the
    kernel, so the variable is set only for that step.
    """
    if not isinstance(item, IPyNbCell) or item.parent.kernel is not None:
        return (yield)
    saved = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = NBVAL_HASH_SEED
    try:
        result = yield
    finally:
        if saved is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = saved
    seed = kernel_hash_seed(item.parent.kernel)
    if seed != repr(NBVAL_HASH_SEED):
        raise RuntimeError(f"the kernel of {item.parent.name} runs with PYTHONHASHSEED={seed}, "
                           f"expected {NBVAL_HASH_SEED!r}. Check whether the installed nbval still "
                           "starts the kernel in the notebook's setup")
    return result
