"""Checks on the stored notebook files: valid, freshly executed, small, and free of machine details."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from lesson_notebooks import (
    INDEX_NAME,
    LANGUAGES,
    NOTEBOOKS,
    all_notebook_paths,
    lesson_paths,
    load_module,
    notebook_id,
    output_texts,
    read,
)

MAX_NOTEBOOK_BYTES = 1_500_000
# An output payload this large appearing twice in one notebook is a duplicated figure or table.
LARGE_PAYLOAD_BYTES = 20_000
MEMORY_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
MACHINE_PATHS = ("/work/", "/root/", "/home/", "/tmp/", "site-packages")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

NOTEBOOKS_UNDER_TEST = all_notebook_paths()
build_script = load_module("qlesson_build", NOTEBOOKS / "build.py")


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_every_source_has_both_notebooks():
    stems = [path.stem for path in build_script.lesson_sources()]
    assert stems, "no lesson source in notebooks/source"
    for language in LANGUAGES:
        built = [path.stem for path in lesson_paths(language)]
        assert built == stems, (
            f"notebooks/{language} holds {built} but the sources are {stems}; run python notebooks/build.py"
        )
        assert (NOTEBOOKS / language / INDEX_NAME).exists(), f"notebooks/{language}/{INDEX_NAME} is missing"


@pytest.mark.parametrize("path", NOTEBOOKS_UNDER_TEST, ids=notebook_id)
class TestNotebookFile:
    def test_valid_nbformat(self, path: Path):
        nbformat.validate(read(path))

    def test_kernelspec_is_python3(self, path: Path):
        assert read(path).metadata.kernelspec.name == "python3"

    def test_matches_its_source(self, path: Path):
        """The stored cells are what build.py makes from the source today, so no rebuild is pending."""
        notebook = read(path)
        language = path.parent.name
        lessons = [build_script.parse_lesson(source) for source in build_script.lesson_sources()]
        if path.name == INDEX_NAME:
            expected = build_script.to_index(language, lessons)
        else:
            lesson = next((item for item in lessons if item.stem == path.stem), None)
            assert lesson is not None, f"{path.name} has no source notebooks/source/{path.stem}.md"
            expected = build_script.to_notebook(lesson, language, lessons)
        stored = [(cell.id, cell.cell_type, cell.source, cell.metadata) for cell in notebook.cells]
        rebuilt = [(cell.id, cell.cell_type, cell.source, cell.metadata) for cell in expected.cells]
        assert stored == rebuilt, f"{path} differs from its source; run python notebooks/build.py {path.stem}"

    def test_execution_counts_in_order(self, path: Path):
        counts = [cell.execution_count for cell in code_cells(read(path))]
        assert counts == list(range(1, len(counts) + 1)), (
            f"execution counts {counts}: the notebook was not saved from one fresh Run All"
        )

    def test_results_carry_cell_count(self, path: Path):
        for cell in code_cells(read(path)):
            for output in cell.outputs:
                if output.output_type == "execute_result":
                    assert output.execution_count == cell.execution_count, f"cell {cell.id}"

    def test_file_size_bounded(self, path: Path):
        size = path.stat().st_size
        assert size < MAX_NOTEBOOK_BYTES, f"{path} is {size} bytes, the limit is {MAX_NOTEBOOK_BYTES}"

    def test_no_duplicated_large_outputs(self, path: Path):
        digests = Counter()
        where = {}
        for cell in read(path).cells:
            for output in cell.get("outputs", []):
                for mime, value in output.get("data", {}).items():
                    payload = value if isinstance(value, str) else str(value)
                    if len(payload) >= LARGE_PAYLOAD_BYTES:
                        digest = hashlib.sha256(payload.encode()).hexdigest()
                        digests[digest] += 1
                        where.setdefault(digest, []).append(f"{cell.id} {mime}")
        duplicated = [where[digest] for digest, count in digests.items() if count > 1]
        assert not duplicated, f"the same large output is stored more than once: {duplicated}"

    def test_no_error_outputs(self, path: Path):
        for cell in code_cells(read(path)):
            for output in cell.outputs:
                assert output.output_type != "error", f"cell {cell.id} raised {output.ename}: {output.evalue}"
                text = "\n".join(output_texts(output))
                assert "Traceback" not in text, f"cell {cell.id} prints a traceback:\n{text}"

    def test_no_warnings_in_outputs(self, path: Path):
        for cell in code_cells(read(path)):
            for output in cell.outputs:
                text = "\n".join(output_texts(output))
                assert "Warning" not in text, f"cell {cell.id} prints a warning:\n{text}"

    def test_no_memory_addresses(self, path: Path):
        for cell in code_cells(read(path)):
            for output in cell.outputs:
                text = "\n".join(output_texts(output))
                match = MEMORY_ADDRESS.search(text)
                assert match is None, f"cell {cell.id} prints the memory address {match and match.group()}: {text[:300]}"

    def test_no_machine_paths(self, path: Path):
        for cell in code_cells(read(path)):
            for output in cell.outputs:
                text = "\n".join(output_texts(output))
                found = [fragment for fragment in MACHINE_PATHS if fragment in text]
                assert not found, f"cell {cell.id} prints a path of this machine ({found}): {text[:300]}"

    def test_widget_views_have_saved_state(self, path: Path):
        """Every widget output can be drawn from the notebook alone, as in the slides or a fresh JupyterLab."""
        notebook = read(path)
        state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        for cell in code_cells(notebook):
            for output in cell.outputs:
                view = output.get("data", {}).get(WIDGET_VIEW)
                if view:
                    assert view["model_id"] in state, f"cell {cell.id}: widget {view['model_id']} has no saved state"
