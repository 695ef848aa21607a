"""The research notebooks run top to bottom in a fresh kernel, so they never rot: each one is
executed cell by cell in a kernel of this interpreter, in an empty working directory, and any
error fails the test. They are kept without outputs, so diffs show code, not results.

The kernel is driven from a child process (this file run as a script), so the kernel client's
sockets and event loops never live in the test process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(ROOT.glob("notebooks/**/*.ipynb"))
CELL_TIMEOUT_S = 300
NOTEBOOK_TIMEOUT_S = 900
COLOURS = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks


def execute(path: Path, workdir: Path) -> None:
    """Run every cell of the notebook at ``path`` in a fresh ``python3`` kernel of this
    interpreter — ipykernel's own kernelspec, whatever a user or the system may have registered
    under that name — with ``workdir`` as its working directory. Raises CellExecutionError, with
    the cell and its traceback, on the first error."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    kernel = KernelManager(
        kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[])
    )
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        km=kernel,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(workdir)}},
    ).execute()


def test_the_notebooks_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in NOTEBOOKS}
    assert {
        "notebooks/exploratory/explore_data.ipynb",
        "notebooks/model_development/walk_forward.ipynb",
        "notebooks/analysis/analyse_backtest.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_is_stored_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: clear the outputs before committing"
            assert cell.execution_count is None, f"{path.name}: clear the execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    done = subprocess.run(
        [sys.executable, __file__, str(path), str(workdir)],
        capture_output=True,
        text=True,
        timeout=NOTEBOOK_TIMEOUT_S,
    )
    assert done.returncode == 0, COLOURS.sub("", done.stderr)[-8000:]
    assert list(workdir.iterdir()) == [], "the notebook left files in its working directory"


if __name__ == "__main__":
    execute(Path(sys.argv[1]), Path(sys.argv[2]))
