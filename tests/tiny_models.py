"""Build tiny random-weight BERT models (and a small WordPiece vocab) for the tests."""

from __future__ import annotations

import json
from pathlib import Path

_WORD_TEXT = """
the a an is was are my your his her name john smith mary jones lives live in at to of and or paris
london berlin france england city capital what where who when does do did this that it i you we they
love hate like pizza movie film great good bad terrible weather today sunny rain football game music
politics food sports cancel subscription price plan email phone number example about tell me process
how works at company google works new york , . ? ! @ - '
"""
WORDS = _WORD_TEXT.split()
LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
NLI_LABELS = ["contradiction", "neutral", "entailment"]
SENTIMENT_LABELS = ["NEGATIVE", "POSITIVE"]


def vocab() -> list[str]:
    """Specials, whole words, letters and their '##' continuations."""
    seen: dict[str, None] = dict.fromkeys(SPECIALS)
    for token in [*WORDS, *LETTERS, *(f"##{c}" for c in LETTERS)]:
        seen.setdefault(token, None)
    return list(seen)


def _config(**extra: object):  # type: ignore[no-untyped-def]
    from transformers import BertConfig

    settings: dict[str, object] = {"max_position_embeddings": 64, **extra}
    return BertConfig(
        vocab_size=len(vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        **settings,
    )


def _labels(names: list[str]) -> dict[str, object]:
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def _save_tokenizer(folder: Path) -> None:
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    table = {token: i for i, token in enumerate(vocab())}
    BertTokenizerFast(vocab=table, do_lower_case=True).save_pretrained(str(folder))


def build(kind: str, folder: Path, seed: int = 0) -> Path:
    """Save one tiny model of ``kind`` (embed, cls, nli, ner, mlm, qa, rerank) under ``folder``."""
    import torch
    import transformers

    torch.manual_seed(seed)
    classes = {
        "embed": ("BertModel", {}),
        "cls": ("BertForSequenceClassification", _labels(SENTIMENT_LABELS)),
        # Longer positions: the tutorial's sentences spell out many words letter by letter.
        "nli": ("BertForSequenceClassification", {**_labels(NLI_LABELS), "max_position_embeddings": 256}),
        "ner": ("BertForTokenClassification", {**_labels(NER_LABELS), "max_position_embeddings": 256}),
        "mlm": ("BertForMaskedLM", {}),
        "qa": ("BertForQuestionAnswering", {}),
        # A cross-encoder: one relevance logit per (query, document) pair.
        "rerank": ("BertForSequenceClassification", {**_labels(["LABEL_0"]), "max_position_embeddings": 128}),
    }
    class_name, extra = classes[kind]
    model = getattr(transformers, class_name)(_config(**extra)).eval()
    if kind != "rerank":  # a reranker's scores should spread, not saturate at 0 and 1
        _sharpen_head(model)
    model.save_pretrained(str(folder))
    _save_tokenizer(folder)
    if kind == "embed":
        _sentence_transformers_files(folder)
    if kind == "rerank":
        _cross_encoder_files(folder)
    return folder


def _sharpen_head(model: object) -> None:
    """Scale the output layer so random predictions are confident and differ from token to token."""
    import torch

    head = getattr(model, "classifier", None) or getattr(model, "qa_outputs", None)
    if head is not None:
        with torch.no_grad():
            head.weight.mul_(200.0)


def _sentence_transformers_files(folder: Path) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True})
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48}))
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "what is ", "passage": ""}, "default_prompt_name": None})
    )


def _cross_encoder_files(folder: Path) -> None:
    """Save the model again as sentence-transformers' CrossEncoder, in that library's own layout."""
    from sentence_transformers import CrossEncoder

    CrossEncoder(str(folder), device="cpu").save(str(folder))


CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def byte_bpe(vocab_size: int, specials: list[str], corpus: list[str]):  # type: ignore[no-untyped-def]
    """A byte-level BPE tokenizer (``tokenizers.Tokenizer``) trained on ``corpus``, specials first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus * 20, trainer=trainer)
    return tok


def build_causal(kind: str, folder: Path, seed: int = 0) -> Path:
    """Save a tiny random causal LM (``llama`` or ``gpt2``) with a byte-level BPE tokenizer."""
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    folder.mkdir(parents=True, exist_ok=True)
    corpus = [_WORD_TEXT, 'hello world, how are you? {"name": "x", "age": 3} [1, 2, 3] true false null']
    tok = byte_bpe(400, ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>"], corpus)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(folder))
    torch.manual_seed(seed)
    vocab = len(fast)
    if kind == "llama":
        config = LlamaConfig(
            vocab_size=vocab,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            intermediate_size=64,
            max_position_embeddings=1024,
            eos_token_id=0,
            bos_token_id=0,
        )
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(
            vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=1024, eos_token_id=0, bos_token_id=0
        )
        model = GPT2LMHeadModel(config)
    model.eval().save_pretrained(str(folder))
    return folder
