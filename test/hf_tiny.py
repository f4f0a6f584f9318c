"""Tiny random CLIP / SigLIP folders (save_pretrained layout) standing in for the real models.

Built from their ``transformers`` configs with random weights, plus a small word-level tokenizer,
so the CLIP/SigLIP code paths run here without downloads.
"""
from __future__ import annotations

from pathlib import Path

WORDS = ("a the person man woman car red blue green white black dark left right on in of with "
         "walking running dog cat ball bike jacket street van who across towards small big").split()
TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 max_position_embeddings=40)
TINY_VISION = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2,
                   image_size=64, patch_size=16)


def save_tokenizer(folder: Path) -> int:
    """A lower-casing word-level tokenizer ([CLS] words [SEP]); returns its vocabulary size."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")
    fast.save_pretrained(str(folder))
    return len(vocab)


def save_tiny(kind: str, folder: Path, seed: int = 0) -> Path:
    """Write a random tiny ``kind`` (clip | siglip) model with its tokenizer into ``folder``."""
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = save_tokenizer(folder)
    text = dict(TINY_TEXT, vocab_size=vocab, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    torch.manual_seed(seed)
    if kind == "clip":
        cfg = transformers.CLIPConfig(text_config=text, vision_config=TINY_VISION, projection_dim=16)
        model = transformers.CLIPModel(cfg)
    else:
        cfg = transformers.SiglipConfig(text_config=dict(text, projection_size=32), vision_config=TINY_VISION)
        model = transformers.SiglipModel(cfg)
    model.save_pretrained(str(folder))
    return folder
