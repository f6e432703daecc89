"""examples/quickstart.ipynb runs top to bottom on a real Jupyter kernel, and is stored without outputs."""

import os
import pathlib
import sys

import pytest

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_the_notebook_is_stored_without_outputs():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow  # a minute: a kernel, a 3-epoch training run and a TFLite export
@pytest.mark.xdist_group("notebook")
@pytest.mark.very_slow  # a training run of several minutes: by hand, not in CI (see pyproject.toml)
def test_the_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The kernelspec says `python`: make it this interpreter (the environment the package is installed in).
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    html = [o for o in outputs if o.output_type == "execute_result" and "text/html" in o.get("data", {})]
    assert html and "standard" in html[0]["data"]["text/html"]  # kl.profile rendered itself as a table
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert images  # the curves, inline
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "TFLite on LiteRT" in printed and "Epoch 3/3" in printed
    keras_accuracy, tflite_accuracy = (float(word) for word in printed.split("Keras ")[1].split(", TFLite on LiteRT "))
    assert abs(keras_accuracy - tflite_accuracy) <= 1 / 359 and keras_accuracy > 0.2
    assert (tmp_path / "runs" / "notebook_digits" / "digits_fp32.tflite").exists()
