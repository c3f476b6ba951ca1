"""Execute every notebook under a fixed PYTHONHASHSEED and compare all its text with the stored outputs.

The stored outputs come from ``notebooks/build.py`` and ``pytest --nbval`` executes each notebook
again, both with Python's default random string hashing. This test adds one more run with
``PYTHONHASHSEED`` fixed to ``HASH_SEED`` in the kernel's environment. So every notebook is
executed at least twice with different seeds, and a printed order that follows set or hash
iteration shows up as a difference. The test compares the stream text, ``text/plain`` and
``text/html`` of every output, after merging consecutive stream outputs as ``build.py`` does.
Images are not compared.

Cost: one more execution of every notebook with code. The runs use one worker process per
available core, so the test takes about the notebook part of ``pytest --nbval`` divided by the
number of cores. It took about 60 s on two cores of an AMD EPYC virtual machine that other
processes were also using.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from lesson_notebooks import all_notebook_paths, notebook_id, read

#: The hash seed of this test's run; Python picks a random one per process when the variable is unset.
HASH_SEED = "2026"
CELL_TIMEOUT_SECONDS = 600
TEXT_MIMES = ("text/plain", "text/html")

NOTEBOOKS_WITH_CODE = [path for path in all_notebook_paths()
                       if any(cell.cell_type == "code" for cell in read(path).cells)]


def text_outputs(notebook: nbformat.NotebookNode) -> list[tuple[str, list[tuple[str, str]]]]:
    """Return, per code cell, its id and the (kind, text) of every output, consecutive streams merged."""
    notebook = nbformat.from_dict(notebook)  # a copy, because merging rewrites the outputs in place
    CoalesceStreamsPreprocessor().preprocess(notebook, {})
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        texts = []
        for output in cell.outputs:
            if output.output_type == "stream":
                texts.append((f"stream {output.name}", output.text))
            elif output.output_type == "error":
                texts.append(("error", f"{output.ename}: {output.evalue}"))
            else:
                for mime in TEXT_MIMES:
                    if mime in output.get("data", {}):
                        texts.append((mime, output.data[mime]))
        cells.append((cell.id, texts))
    return cells


def execute_with_seed(path: Path, seed: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Execute the notebook at ``path`` in a fresh kernel with PYTHONHASHSEED=``seed``; return its texts."""
    notebook = read(path)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name=notebook.metadata.kernelspec.name,
                            record_timing=False, resources={"metadata": {"path": str(path.parent)}})
    client.execute(env={**os.environ, "PYTHONHASHSEED": seed})
    return text_outputs(notebook)


def worker_count() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, len(NOTEBOOKS_WITH_CODE)))


@pytest.fixture(scope="module")
def fresh_runs():
    """Start every notebook's run at once on a process pool and return the futures by path."""
    pool = ProcessPoolExecutor(max_workers=worker_count())
    futures: dict[Path, Future] = {path: pool.submit(execute_with_seed, path, HASH_SEED)
                                   for path in NOTEBOOKS_WITH_CODE}
    yield futures
    # After pytest -x stops early, the runs not yet started are dropped instead of awaited.
    pool.shutdown(wait=True, cancel_futures=True)


def test_notebooks_found():
    assert len(NOTEBOOKS_WITH_CODE) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS_WITH_CODE, ids=notebook_id)
def test_kernelspec_installed_with_ipykernel(path: Path):
    # The kernel spec must be one that installing requirements.txt provides, which ipykernel puts
    # under the environment's prefix, and not one from a user directory of this machine.
    name = read(path).metadata.kernelspec.name
    spec = KernelSpecManager().get_kernel_spec(name)
    prefix = Path(sys.prefix).resolve()
    assert prefix in Path(spec.resource_dir).resolve().parents, f"kernel spec {name!r} comes from {spec.resource_dir}"


@pytest.mark.parametrize("path", NOTEBOOKS_WITH_CODE, ids=notebook_id)
def test_text_outputs_independent_of_hash_seed(path: Path, fresh_runs):
    fresh = fresh_runs[path].result()
    stored = text_outputs(read(path))

    assert [cell_id for cell_id, _ in fresh] == [cell_id for cell_id, _ in stored]
    for (cell_id, fresh_texts), (_, stored_texts) in zip(fresh, stored):
        assert fresh_texts == stored_texts, (
            f"cell {cell_id} prints other text with PYTHONHASHSEED={HASH_SEED} than the stored run")
