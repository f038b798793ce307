"""notebooks/attention_guide.ipynb: stored without outputs, and runs top to bottom headless."""

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

NOTEBOOK = ROOT / "notebooks" / "attention_guide.ipynb"


def test_the_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.slow
def test_the_notebook_runs_and_shows_the_guide_the_run_and_the_inspection(tmp_path, monkeypatch):
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path))  # its logs/ and data/ go here (the kernel inherits it)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs)
    assert len(images) >= 9 + 2 + 1  # nine guide steps, two report figures, the inspected sentence
    assert "Step 9 —" in text and "entropy:" in text and "test accuracy" in text
    accuracy = float(text.split("test accuracy ")[1].split(";")[0])
    assert accuracy > 0.7  # three epochs on 5,000 sentences of the embedded corpus learn (majority: 0.52)
    assert list((tmp_path / "logs" / "notebook").glob("*/checkpoints/last.ckpt"))
