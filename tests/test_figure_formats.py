"""viz.format / --format: every figure also as SVG or PDF beside its PNG, fonts embedded."""

import numpy as np
import pytest
from helpers import run_cli
from matplotlib.figure import Figure

from attn_project.errors import ConfigError
from attn_project.viz import plots


@pytest.fixture
def formats():
    return plots.set_figure_formats  # conftest's autouse fixture sets png alone back after each test


def test_vector_copies_beside_the_png_with_their_fonts_embedded(tmp_path, formats):
    fig = Figure()
    fig.add_subplot().set_title("attention weight")
    formats("svg,pdf")
    path = plots.save(fig, tmp_path / "figure.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.pdf", "figure.png", "figure.svg"]
    assert b"/FontFile2" in (tmp_path / "figure.pdf").read_bytes()  # a TrueType font inside the PDF
    assert "<text" not in (tmp_path / "figure.svg").read_text()  # glyphs as outlines: no font needed
    formats("png")
    plots.save(fig, tmp_path / "other.png")
    assert not (tmp_path / "other.svg").exists() and path.is_file()


@pytest.mark.parametrize("value", ["jpeg", "", "svg,eps"])
def test_an_unknown_format_names_the_key(value, formats):
    with pytest.raises(ConfigError, match=r"viz.format=.*choose png, svg, pdf"):
        formats(value)


def test_bad_viz_format_is_one_error_line(tmp_path, capsys):
    code, output = run_cli("inspect_attention", ["pretrained=minilm", "text=The man read .",
                                                 f"out={tmp_path / 'out'}", "viz.format=tiff"], capsys)
    assert code != 0 and "viz.format='tiff'" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_a_saved_figure_keeps_every_label_inside_the_image(tmp_path):
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    words = "the old man saw the boats on the river .".split()
    weights = np.random.default_rng(0).dirichlet(np.ones(10), size=10)

    def step8():  # the guide's step 8: two-line panel titles under a title
        return plots.before_after_figure(weights, weights, words, "Step 8: two kinds of random weights",
                                         before_title="unscaled N(0,1)\nmean entropy/log T = 0.03",
                                         after_title="PyTorch default\nmean entropy/log T = 0.97")

    fig = step8()
    FigureCanvasAgg(fig).draw()
    assert fig.axes[0].xaxis.label.get_window_extent().y0 < 0  # the layout alone cuts the x label
    image = np.asarray(Image.open(plots.save(step8(), tmp_path / "step8.png")).convert("L"))
    edges = np.concatenate([image[:2].ravel(), image[-2:].ravel(), image[:, :2].ravel(),
                            image[:, -2:].ravel()])
    assert edges.min() > 250  # nothing drawn touches the image's edge: no label cut


def test_a_long_sentences_panels_grow_so_each_word_keeps_its_label_row():
    short = plots.head_grid_figure(np.ones((2, 8, 8)) / 8, [f"w{k}" for k in range(8)], "short")
    long = plots.head_grid_figure(np.ones((2, 120, 120)) / 120, [f"w{k}" for k in range(120)], "long")
    assert short.get_figwidth() == pytest.approx(2 * 4.2 + 0.8)
    assert long.get_figheight() >= 120 * plots.ROW_INCHES  # at least a label row per word
