"""callbacks/attention.py, hook by hook: heat-map frames per sample and head, and the report's
untrained snapshot as checkpoint state."""

import io

import numpy as np
import torch
from PIL import Image

from attn_project.training.callbacks.attention import AttentionHeatmaps, AttentionReport, png_summary


def sample(heads: int, length: int = 5, layers: int = 1) -> dict:
    rng = np.random.default_rng(0)
    maps = rng.dirichlet(np.ones(length), size=(layers * heads, length))  # [L·H, T, T], rows sum to 1
    tokens = [f"w{i}" for i in range(length)]
    names = [f"L{layer}H{head}" for layer in range(layers) for head in range(heads)]
    return {"mask_map": maps, "raw": maps[:, ::-1], "tokens": tokens, "masked": 2, "head_names": names}


def test_heatmap_frames_one_png_per_sample_and_head_each_epoch():
    callback = AttentionHeatmaps()
    first = callback.frames(0, sample(heads=2), step=0)
    assert set(first) == {"attention/sample0", "attention/sample0/L0H0", "attention/sample0/L0H1"}
    for png in first.values():
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG" and image.width > 200 and image.height > 200
    assert len(callback.figures) == 1  # one drawing for the sample's three panels
    figures = dict(callback.figures)
    later = callback.frames(0, {**sample(heads=2), "mask_map": sample(heads=2)["mask_map"][::-1]}, step=40)
    assert callback.figures == figures  # laid out once, repainted after
    assert later["attention/sample0"] != first["attention/sample0"]  # new weights, new picture
    deep = AttentionHeatmaps().frames(0, sample(heads=2, layers=2), step=0)  # each layer's heads by name
    tags = {f"attention/sample0/L{layer}H{head}" for layer in (0, 1) for head in (0, 1)}
    assert set(deep) == {"attention/sample0", *tags}
    summary = png_summary("attention/sample0", first["attention/sample0"])
    assert summary.value[0].tag == "attention/sample0"
    assert summary.value[0].image.encoded_image_string == first["attention/sample0"]


def test_report_snapshot_travels_in_checkpoints_and_a_malformed_one_is_dropped(tmp_path, caplog):
    callback = AttentionReport(tmp_path)
    assert callback.state_dict() == {}  # nothing before fit start
    malformed = {"rows": {}, "samples": [torch.zeros(2, 2)], "baselines": {}, "seconds": 1.0}
    callback.load_state_dict({"before": malformed})
    assert callback.before is None and "malformed" in caplog.text
    callback.on_test_end(None, None)  # eval of a checkpoint without a snapshot: no report
    assert not (tmp_path / "attention_report.json").exists()
