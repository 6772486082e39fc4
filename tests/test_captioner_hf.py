"""HFCaptioner through the production path, with a tiny random BLIP built in the test.

The model (~10 k parameters) is saved with ``save_pretrained`` and loaded back by
``HFCaptioner(directory)`` exactly as a downloaded BLIP would be; no hub is contacted
(``conftest.py`` sets ``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from jpegtext.captioner import (
    BLIP_BASE_ID,
    BLIP_BASE_REVISION,
    BuiltinCaptioner,
    HFCaptioner,
    clean_caption,
    count_words,
    default_captioner,
    get_captioner,
    is_cached,
)
from jpegtext.cli import main
from jpegtext.errors import ConfigError, MissingWeightsError, WeightsError

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

WORDS = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "photo", "of", "red", "blue",
    "green", "sky", "the", "at", "top", "bottom", "barn", "tree", "grass", "house", "sun", "and",
    "in", "on", "left", "right",
]  # fmt: skip


def build_tiny_blip(folder: Path) -> Path:
    """Save a tiny random BlipForConditionalGeneration and its processor to ``folder``."""
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    vocab = {w: i for i, w in enumerate(WORDS)}
    # vocab= (not vocab_file=): transformers 5 silently ignores a vocab file here.
    tokenizer = BertTokenizerFast(
        vocab=vocab, do_lower_case=True, bos_token="[DEC]", model_max_length=32
    )
    # initializer_range 0.2 (not 0.02): the captions then depend on the image, so that the
    # batching test compares different captions.
    text = dict(
        vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=64, bos_token_id=vocab["[DEC]"],
        pad_token_id=0, sep_token_id=vocab["[SEP]"], eos_token_id=vocab["[SEP]"],
        encoder_hidden_size=16, initializer_range=0.2,
    )  # fmt: skip
    vision = dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        image_size=32, patch_size=8, initializer_range=0.2,
    )  # fmt: skip
    config = BlipConfig(
        text_config=text, vision_config=vision, projection_dim=16, image_text_hidden_size=16,
        initializer_range=0.2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(config).eval()
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_blip(tmp_path_factory.mktemp("models") / "tiny-blip")


@pytest.fixture(scope="module")
def captioner(tiny_blip: Path) -> HFCaptioner:
    return HFCaptioner(str(tiny_blip), batch_size=3)


def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    out = [
        Image.fromarray(rng.integers(0, 256, (40 + 9 * i, 50, 3), dtype=np.uint8)) for i in range(4)
    ]
    out += [Image.new("RGB", (30, 20), c) for c in ("red", "blue", "white")]
    out.append(Image.new("L", (25, 25), 90))  # not RGB: converted
    return out


def test_captions_come_back_as_strings(captioner: HFCaptioner) -> None:
    captions = captioner(images()[:2])
    assert len(captions) == 2
    assert all(isinstance(c, str) and c for c in captions)
    assert all(count_words(c) <= 18 for c in captions)
    assert captioner.name == "local:tiny-blip"
    assert str(captioner.device) == "cpu" and captioner.dtype == torch.float32
    assert captioner([]) == []


def test_batching_gives_the_same_captions_as_one_by_one(
    captioner: HFCaptioner, tiny_blip: Path
) -> None:
    batch = images()
    together = captioner(batch)  # batches of 3, 3 and 2
    single = HFCaptioner(str(tiny_blip), batch_size=1)
    assert together == [single([im])[0] for im in batch]
    assert len(set(together)) > 1  # the images give different captions: the test can fail


def test_prompt_echo_and_word_cap(tiny_blip: Path) -> None:
    prompted = HFCaptioner(str(tiny_blip), prompt="a  photo of", max_words=4)
    assert prompted.prompt == "a photo of"
    for caption in prompted(images()[:3]):
        assert not caption.startswith("a photo of"), caption
        assert count_words(caption) <= 4


def test_registry_builds_directories_and_hf_names(tiny_blip: Path) -> None:
    by_path = get_captioner(str(tiny_blip), max_new_tokens=5)
    assert isinstance(by_path, HFCaptioner) and by_path.max_new_tokens == 5
    with pytest.raises(ConfigError, match="bad arguments"):
        get_captioner(str(tiny_blip), temperature=0.5)


def test_unknown_hub_id_offline_gives_the_documented_error() -> None:
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError) as info:
        get_captioner("hf:nobody-here/no-such-captioner@0123abcd")
    message = str(info.value)
    for part in (
        "nobody-here/no-such-captioner",
        "0123abcd",
        "HF_HUB_OFFLINE",
        "hf download",
        "HF_HOME",
    ):
        assert part in message, message
    assert "\n" not in message and "Traceback" not in message
    assert time.perf_counter() - start < 10.0  # never waits for a network timeout


def test_pinned_blip_without_cache_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingWeightsError, match=BLIP_BASE_REVISION):
        get_captioner("blip-base")


def test_missing_or_invalid_local_directories(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match="does not exist"):
        HFCaptioner("./no/such/model-dir")
    with pytest.raises(WeightsError, match="not a transformers image-to-text model"):
        HFCaptioner(str(tmp_path))  # exists, but holds no model


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "float16", "device": "cpu"}, "only on CUDA"),
        ({"dtype": "int8", "device": "cpu"}, "dtype"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
        ({"max_words": True}, "max_words"),
        ({"device": "tpu:7"}, "device"),
    ],
)
def test_bad_arguments_are_refused(tiny_blip: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        HFCaptioner(str(tiny_blip), **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's answer")
def test_cuda_requested_without_cuda(tiny_blip: Path) -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        HFCaptioner(str(tiny_blip), device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_runs_in_half_precision(tiny_blip: Path, captioner: HFCaptioner) -> None:
    gpu = HFCaptioner(str(tiny_blip))
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float16
    assert all(isinstance(c, str) for c in gpu(images()))


def make_fake_cache(cache: Path, model_dir: Path) -> None:
    """Lay out ``model_dir`` as the pinned BLIP revision in a Hugging Face hub cache."""
    repo = cache / f"models--{BLIP_BASE_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / BLIP_BASE_REVISION
    snapshot.mkdir(parents=True)
    for f in model_dir.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(BLIP_BASE_REVISION)


def test_default_captioner_uses_cached_blip(
    tiny_blip: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert not is_cached(BLIP_BASE_ID, BLIP_BASE_REVISION)
    make_fake_cache(tmp_path / "hub", tiny_blip)
    assert is_cached(BLIP_BASE_ID, BLIP_BASE_REVISION) and is_cached(BLIP_BASE_ID, "main")
    with caplog.at_level(logging.INFO, logger="jpegtext.captioner"):
        chosen = default_captioner()
    assert isinstance(chosen, HFCaptioner) and chosen.name == "blip-base"
    assert chosen.revision == BLIP_BASE_REVISION
    assert "default captioner: blip-base" in caplog.text
    assert chosen(images()[:2]) == HFCaptioner(str(tiny_blip))(images()[:2])


def test_default_captioner_falls_back_to_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="jpegtext.captioner"):
        chosen = default_captioner()
    assert time.perf_counter() - start < 2.0  # decided from the file system, no network
    assert isinstance(chosen, BuiltinCaptioner)
    assert "default captioner: builtin" in caplog.text


def test_broken_cached_blip_falls_back_to_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = (
        tmp_path / f"models--{BLIP_BASE_ID.replace('/', '--')}" / "snapshots" / BLIP_BASE_REVISION
    )
    snapshot.mkdir(parents=True)
    for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
        (snapshot / name).write_text("{not json")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="jpegtext.captioner"):
        chosen = default_captioner()
    assert isinstance(chosen, BuiltinCaptioner)
    assert "using builtin" in caplog.text


def _garbage(weights: Path) -> None:
    weights.write_text("garbage\n")  # `echo garbage > model.safetensors`


def _truncated(weights: Path) -> None:
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # an interrupted download


def _header_only(weights: Path) -> None:
    weights.write_bytes(weights.read_bytes()[:20])


def _wrong_shapes(weights: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(weights)
    name = next(k for k, v in tensors.items() if v.ndim == 2)
    tensors[name] = torch.zeros(3, 3)
    save_file(tensors, weights, metadata={"format": "pt"})


DAMAGES = {
    "garbage": _garbage,
    "truncated": _truncated,
    "header-only": _header_only,
    "wrong-shapes": _wrong_shapes,
}


def damaged_copy(model_dir: Path, folder: Path, damage: str) -> Path:
    """A copy of ``model_dir`` whose ``model.safetensors`` is damaged as ``damage`` says."""
    folder.mkdir(parents=True)
    for f in model_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    DAMAGES[damage](folder / "model.safetensors")
    return folder


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_weights_in_a_directory_are_a_weights_error(
    tiny_blip: Path, tmp_path: Path, damage: str
) -> None:
    folder = damaged_copy(tiny_blip, tmp_path / "blip", damage)
    with pytest.raises(WeightsError, match="cannot load captioner model from") as info:
        HFCaptioner(str(folder))
    assert info.value.__cause__ is not None  # the loader's own error stays attached


@pytest.mark.parametrize("bug", [AttributeError("no attribute"), NotImplementedError("todo")])
def test_loader_bugs_are_not_turned_into_weights_errors(
    tiny_blip: Path, monkeypatch: pytest.MonkeyPatch, bug: Exception
) -> None:
    import transformers

    def broken(*args: object, **kwargs: object) -> None:
        raise bug

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", broken)
    with pytest.raises(type(bug)) as info:
        HFCaptioner(str(tiny_blip))
    assert info.value is bug


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_cached_blip_falls_back_to_builtin(
    tiny_blip: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    make_fake_cache(tmp_path / "hub", tiny_blip)
    snapshot = next((tmp_path / "hub").glob("models--*/snapshots/*"))
    DAMAGES[damage](snapshot / "model.safetensors")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert is_cached(BLIP_BASE_ID, BLIP_BASE_REVISION)
    with caplog.at_level(logging.WARNING, logger="jpegtext.captioner"):
        chosen = default_captioner()
    assert isinstance(chosen, BuiltinCaptioner)
    assert "using builtin" in caplog.text and "delete it and download again" in caplog.text

    Image.new("RGB", (32, 24), (200, 30, 30)).save(tmp_path / "red.png")
    caption = CliRunner().invoke(main, ["caption", str(tmp_path / "red.png")])
    assert caption.exit_code == 0, caption.output
    assert caption.stdout == f"{tmp_path / 'red.png'}\tmostly smooth bright red\n"
    encoded = CliRunner().invoke(
        main, ["encode", str(tmp_path / "red.png"), "-q", "1", "-o", str(tmp_path / "x.jpg")]
    )
    assert encoded.exit_code == 0, encoded.output
    assert "Using the default captioner: builtin" in encoded.stderr
    # An explicit folder that cannot be loaded is one error line, not a fallback.
    explicit = CliRunner().invoke(
        main, ["caption", "--captioner", str(snapshot), str(tmp_path / "red.png")]
    )
    assert explicit.exit_code == 1
    assert explicit.output.startswith("Error: cannot load captioner model from ")
    assert len(explicit.output.splitlines()) == 1 and "Traceback" not in explicit.output


def test_cli_caption_with_a_model_directory(tiny_blip: Path, tmp_path: Path) -> None:
    paths = []
    for i, image in enumerate(images()[:3]):
        paths.append(tmp_path / f"im{i}.png")
        image.save(paths[-1])
    result = CliRunner().invoke(
        main, ["caption", "--json", "--captioner", str(tiny_blip), *map(str, paths)]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    expected = HFCaptioner(str(tiny_blip))([Image.open(p).convert("RGB") for p in paths])
    assert [r["file"] for r in rows] == [str(p) for p in paths]
    assert [r["caption"] for r in rows] == expected
    assert {r["captioner"] for r in rows} == {"local:tiny-blip"}


def build_tiny_vision_encoder_decoder(folder: Path) -> Path:
    """A tiny ViT + BERT-decoder VisionEncoderDecoderModel: no joint processor, like vit-gpt2."""
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    vocab = {w: i for i, w in enumerate(WORDS)}
    encoder = ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        image_size=32, patch_size=8, initializer_range=0.2,
    )  # fmt: skip
    decoder = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, is_decoder=True,
        add_cross_attention=True, initializer_range=0.2,
    )  # fmt: skip
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config=config)
    for cfg in (model.config, model.generation_config):
        cfg.decoder_start_token_id = vocab["[CLS]"]
        cfg.pad_token_id = vocab["[PAD]"]
        cfg.eos_token_id = vocab["[SEP]"]
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=32).save_pretrained(folder)
    return folder


def test_vision_encoder_decoder_model(tmp_path: Path) -> None:
    folder = build_tiny_vision_encoder_decoder(tmp_path / "tiny-ved")
    captions = get_captioner(str(folder), max_new_tokens=6)(images()[:3])
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    assert all(set(c.split()) <= set(WORDS) for c in captions)
    with pytest.raises(ConfigError, match="takes no prompt"):
        HFCaptioner(str(folder), prompt="a photo of")


@pytest.mark.parametrize(
    ("raw", "prompt", "max_words", "expected"),
    [
        ("  a   dog  on\tgrass ", None, 18, "a dog on grass"),
        ("a a dog dog on the the grass", None, 18, "a dog on the grass"),
        ("a dog on the left on the left", None, 18, "a dog on the left"),
        ("a view of a view of a lake", None, 18, "a view of a lake"),
        ("arafed man riding a horse", None, 18, "man riding a horse"),
        ("a photography of a red barn", "a photography of", 18, "a red barn"),
        ("A Photography Of, a red barn", "a photography of", 18, "a red barn"),
        ("a photo of", "a photo of", 18, ""),
        ("a red barn beside a pond", "a photography of", 18, "a red barn beside a pond"),
        ("one two three four five", None, 3, "one two three"),
        ("sun-lit barn at dusk", None, 2, "sun-lit"),
    ],
)
def test_clean_caption(raw: str, prompt: str | None, max_words: int, expected: str) -> None:
    assert clean_caption(raw, prompt=prompt, max_words=max_words) == expected
