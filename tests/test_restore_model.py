"""Shape, mask and switch tests of the TGJAR networks on tiny configs (fast CPU tier)."""

from __future__ import annotations

import pytest
import torch

from jpegtext.errors import ConfigError
from jpegtext.restore.networks.config import GeneratorConfig, ModelConfig, TextEncoderConfig
from jpegtext.restore.networks.discriminator import PatchDiscriminator
from jpegtext.restore.networks.fusion import LocalFusion
from jpegtext.restore.networks.generator import TGJARGenerator
from jpegtext.restore.networks.text import BiLSTMTextEncoder, Vocabulary, tokenize

TINY_TEXT = TextEncoderConfig(embed_dim=16, hidden_dim=8, dropout=0.0)  # 16-d features
TINY_GEN = GeneratorConfig(widths=(8, 8, 16, 16), enc_blocks=(1, 1, 1, 1), mid_blocks=1,
                           dec_blocks=(1, 1, 1), text_dim=16, gfm_hidden=16)
VOCAB = Vocabulary.build(["a red barn beside a blue pond", "green trees at the top",
                          "grey sky in the middle, dark ground at the bottom"])


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    # the generator starts as the identity (zero tail); give every weight a random value so
    # that the tests see the text paths at work
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def _models(gen_cfg: GeneratorConfig = TINY_GEN) -> tuple[TGJARGenerator, BiLSTMTextEncoder]:
    torch.manual_seed(0)
    text = BiLSTMTextEncoder(VOCAB, TINY_TEXT).eval()
    gen = TGJARGenerator(gen_cfg).eval()
    _randomise(gen)
    _randomise(text, 1)
    return gen, text


def _run(gen: TGJARGenerator, text: BiLSTMTextEncoder, x: torch.Tensor, captions: list[str],
         q: int = 1) -> torch.Tensor:
    f = text.encode(captions)
    quality = torch.full((x.shape[0],), q)
    with torch.no_grad():
        return gen(x, f.words, f.mask, f.sentence, quality)


def test_tokenize_lowercases_and_splits_words() -> None:
    assert tokenize("A Red-barn, beside\tthe POND!") == ["a", "red", "barn", "beside", "the", "pond"]


def test_vocabulary_round_trip_and_oov() -> None:
    v = Vocabulary.from_json(VOCAB.to_json())
    assert v.itos == VOCAB.itos and v.itos[0] == "<pad>"
    assert VOCAB.encode("a purple barn", 18) == [VOCAB.stoi["a"], VOCAB.stoi["barn"]]
    assert VOCAB.oov_rate(["a purple barn"]) == pytest.approx(1 / 3)
    assert len(VOCAB.encode(" ".join(["red"] * 40), 18)) == 18


@pytest.mark.parametrize("h,w", [(37, 53), (8, 8), (64, 48), (1, 1), (9, 130)])
def test_generator_keeps_any_size(h: int, w: int) -> None:
    gen, text = _models()
    x = torch.rand(2, 3, h, w)
    out = _run(gen, text, x, ["a red barn", ""])
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_fresh_generator_is_identity() -> None:
    torch.manual_seed(0)
    gen = TGJARGenerator(TINY_GEN).eval()
    text = BiLSTMTextEncoder(VOCAB, TINY_TEXT).eval()
    x = torch.rand(1, 3, 24, 40)
    assert torch.equal(_run(gen, text, x, ["a red barn"]), x)


def test_padding_words_do_not_change_output() -> None:
    gen, text = _models()
    x = torch.rand(1, 3, 32, 32)
    f = text.encode(["a red barn"])
    q = torch.tensor([1])
    with torch.no_grad():
        ref = gen(x, f.words, f.mask, f.sentence, q)
        # append 5 padding positions holding garbage: masked, so no effect
        words = torch.cat([f.words, torch.randn(1, f.words.shape[1], 5) * 100], dim=2)
        mask = torch.cat([f.mask, torch.ones(1, 5, dtype=torch.bool)], dim=1)
        padded = gen(x, words, mask, f.sentence, q)
    torch.testing.assert_close(padded, ref, atol=1e-5, rtol=1e-5)


def test_batch_padding_does_not_change_output() -> None:
    # a short caption batched with a long one is padded; its output must equal the unbatched one
    gen, text = _models()
    x = torch.rand(2, 3, 32, 32)
    both = _run(gen, text, x, ["red barn", "grey sky in the middle dark ground at the bottom"])
    alone = _run(gen, text, x[:1], ["red barn"])
    torch.testing.assert_close(both[:1], alone, atol=1e-5, rtol=1e-5)


def test_caption_changes_output() -> None:
    gen, text = _models()
    x = torch.rand(1, 3, 32, 32)
    a = _run(gen, text, x, ["a red barn beside a blue pond"])
    b = _run(gen, text, x, ["green trees at the top"])
    empty = _run(gen, text, x, [""])
    assert (a - b).abs().max() > 1e-3
    assert (a - empty).abs().max() > 1e-3


def test_quality_input_changes_output() -> None:
    gen, text = _models()
    x = torch.rand(1, 3, 32, 32)
    assert (_run(gen, text, x, ["red"], q=1) - _run(gen, text, x, ["red"], q=10)).abs().max() > 1e-4


@pytest.mark.parametrize("gfm,lfm", [(False, True), (True, False), (False, False)])
def test_fusion_modules_can_be_switched_off(gfm: bool, lfm: bool) -> None:
    cfg = TINY_GEN.replace(use_gfm=gfm, use_lfm=lfm)
    gen, text = _models(cfg)
    assert (gen.gfm is None) == (not gfm)
    assert (gen.lfm is None) == (not lfm)
    x = torch.rand(1, 3, 32, 32)
    a = _run(gen, text, x, ["a red barn"])
    b = _run(gen, text, x, ["green trees at the top"])
    if not gfm and not lfm:
        # no fusion module: the text cannot reach the output
        torch.testing.assert_close(a, b)
    else:
        assert (a - b).abs().max() > 1e-4


def test_lfm_attention_ignores_padding_and_sums_to_one() -> None:
    torch.manual_seed(0)
    lfm = LocalFusion(8, 16, null_word=True)
    x = torch.randn(2, 8, 4, 4)
    words = torch.randn(2, 16, 6)
    mask = torch.tensor([[False, False, True, True, True, True], [True] * 6])
    _, attn = lfm.attention(x, words, mask)
    assert attn.shape == (2, 16, 7)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 16))
    assert attn[0, :, 2:6].abs().max() == 0
    # empty caption: all weight on the null word
    torch.testing.assert_close(attn[1, :, 6], torch.ones(16))


def test_text_encoder_masks_and_empty_caption() -> None:
    text = BiLSTMTextEncoder(VOCAB, TINY_TEXT).eval()
    f = text.encode(["a red barn", "", "zzz unknown"])
    assert f.words.shape == (3, 16, 3) and f.mask.shape == (3, 3) and f.sentence.shape == (3, 16)
    assert f.mask.tolist() == [[False, False, False], [True, True, True], [True, True, True]]
    assert f.sentence[1].abs().max() == 0 and f.words[1].abs().max() == 0
    assert f.sentence[0].abs().max() > 0


def test_text_encoders_follow_the_text_encoder_protocol() -> None:
    from jpegtext.restore.networks.text import MiniLMTextEncoder, TextEncoder

    text = BiLSTMTextEncoder(VOCAB, TINY_TEXT)
    assert isinstance(text, TextEncoder)
    assert text.lost_words("a red zzz barn") == ["zzz"]
    assert text.feature_dim == 16
    # the MiniLM class is checked without its 90 MB backbone: the protocol is about methods
    assert all(callable(getattr(MiniLMTextEncoder, m)) for m in ("encode", "lost_words"))
    assert isinstance(MiniLMTextEncoder.feature_dim, property)
    assert not isinstance(torch.nn.Linear(2, 2), TextEncoder)  # no encode/lost_words


def test_discriminator_patch_logits() -> None:
    d = PatchDiscriminator()
    assert d(torch.rand(2, 3, 64, 64)).shape == (2, 1, 8, 8)


def test_config_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="unknown key.*'widht'"):
        GeneratorConfig.from_dict({"widht": [1, 2, 3, 4]})
    with pytest.raises(ConfigError, match='Invalid widths'):
        GeneratorConfig(widths=(8, 8, 8))
    with pytest.raises(ConfigError, match="text_dim"):
        ModelConfig(text=TINY_TEXT, generator=GeneratorConfig(text_dim=256))
    cfg = ModelConfig(text=TINY_TEXT, generator=TINY_GEN)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
