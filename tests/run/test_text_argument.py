"""--text: any ordinary sentence reaches the command exactly as typed, through Hydra's override grammar."""

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from attn_project.run.text_argument import with_text_override


@pytest.mark.parametrize("sentence", ["It's late, isn't it ?", 'She said "no" , twice .', "a\\b ends\\",
                                      "costs ${5} , ok", "quote\\' and \\\\' slashes", "plain words ."])
def test_a_sentence_given_with_text_comes_back_exactly(sentence):
    for args in (["--text", sentence], [f"--text={sentence}"]):
        [override] = with_text_override(["ckpt_path=x.ckpt", *args])[1:]
        value = OverridesParser.create().parse_override(override).value()
        assert OmegaConf.create({"text": value}).text == sentence  # resolved, as the app reads it


def test_text_without_a_sentence_is_one_error():
    with pytest.raises(SystemExit, match="--text needs a sentence"):
        with_text_override(["--text"])
