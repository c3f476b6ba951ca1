"""Check that every notebook's text outputs are compared between two runs with different PYTHONHASHSEED values.

``notebooks/build.py`` stores the outputs of a kernel with PYTHONHASHSEED=``BUILD_HASH_SEED``,
and ``pytest --nbval`` executes every notebook again in a kernel with ``NBVAL_HASH_SEED``
(``notebooks/conftest.py`` sets it, and checks it in each notebook's kernel before the first
cell runs). nbval 0.11 compares every stored output with the fresh one: stream text by stream
name, error names and values, and every MIME type except PNG, JPEG and widget views. So a printed
order that follows set or hash iteration fails a cell. nbval groups a cell's outputs by kind
before comparing them, so it does not check the order between, say, a printed line and a
displayed value.

``build.py`` records its seed in each notebook's metadata (``qlesson.hash_seed``), and
``test_stored_outputs_use_build_seed`` checks it, so the stored outputs are known to
come from the other seed.

The tests here check that chain on a small notebook. The build's kernel has its seed, and the
seeds differ. nbval with the real ``notebooks/conftest.py`` runs a kernel with its own seed, fails
a cell whose text depends on the seed and passes one that does not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from lesson_notebooks import NOTEBOOKS, all_notebook_paths, load_module, notebook_id, read

build_script = load_module("qlesson_build", NOTEBOOKS / "build.py")

NOTEBOOKS_WITH_CODE = [path for path in all_notebook_paths()
                       if any(cell.cell_type == "code" for cell in read(path).cells)]
NBVAL_TIMEOUT_S = 300

# Cells of the small notebook, which print the kernel's seed, a value that depends on the seed, and one that does not.
PROBE_CELLS = [
    "import os\nprint(os.environ.get('PYTHONHASHSEED'))",
    "print(hash('qlesson'))",
    "print(sorted({'b', 'a', 'c'}))",
]


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
def test_stored_outputs_use_build_seed(path: Path):
    recorded = read(path).metadata.get("qlesson", {}).get("hash_seed")
    assert recorded == build_script.BUILD_HASH_SEED, (
        f"{path.name} was executed with PYTHONHASHSEED={recorded!r}; rebuild it with notebooks/build.py")


def test_build_and_nbval_seeds_differ():
    seeds = (build_script.BUILD_HASH_SEED, build_script.NBVAL_HASH_SEED)
    for seed in seeds:
        # Python 3.11 accepts PYTHONHASHSEED "random" or an integer in [0, 4294967295] and stops at start-up
        # with a fatal error otherwise.
        assert seed.isdigit(), f"PYTHONHASHSEED {seed!r} is not a fixed seed"
        assert int(seed) <= 4294967295, f"PYTHONHASHSEED {seed!r} is above Python's maximum, 4294967295"
    assert seeds[0] != seeds[1]


def run_nbval(folder: Path, notebook: Path) -> dict[str, str]:
    """Run ``pytest --nbval`` on ``notebook`` in ``folder`` and return each cell's outcome by test name."""
    report = folder / "report.xml"
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("PYTEST_", "PYTHONHASHSEED"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider", f"--junitxml={report}", notebook.name],
        cwd=folder, env=environment, capture_output=True, text=True, timeout=NBVAL_TIMEOUT_S,
    )
    assert report.exists(), f"pytest wrote no report {report}, its output:\n{result.stdout}\n{result.stderr}"
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[case.get("name")] = "failed" if failed else "passed"
    return outcomes


def test_nbval_fails_hash_dependent_text(tmp_path: Path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in PROBE_CELLS])
    notebook.metadata["kernelspec"] = build_script.KERNELSPEC
    build_script.execute(notebook, tmp_path)
    printed = [cell.outputs[0].text for cell in notebook.cells]
    assert printed[0] == f"{build_script.BUILD_HASH_SEED}\n", "the build's kernel does not have BUILD_HASH_SEED"
    # nbval's kernel must print its own seed, so the first cell passes only if notebooks/conftest.py set it.
    notebook.cells[0].outputs[0].text = f"{build_script.NBVAL_HASH_SEED}\n"

    # The pytest.ini makes the folder pytest's root directory, so pyproject.toml's options do not apply.
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    shutil.copy(NOTEBOOKS / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(NOTEBOOKS / "build.py", tmp_path / "build.py")
    nbformat.write(notebook, tmp_path / "probe.ipynb")
    outcomes = run_nbval(tmp_path, tmp_path / "probe.ipynb")

    assert sorted(outcomes) == ["Cell 0", "Cell 1", "Cell 2"]
    assert outcomes["Cell 0"] == "passed", "nbval's kernel did not run with NBVAL_HASH_SEED"
    assert outcomes["Cell 1"] == "failed", "nbval accepted a hash value printed under another seed"
    assert outcomes["Cell 2"] == "passed", "nbval failed a cell whose text does not depend on the seed"
