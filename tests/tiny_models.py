"""Randomly initialised image-text models saved as model folders, for the real loading, batching
and storage code where no CLIP or SigLIP weights are available. Their vectors mean nothing; only
identical inputs give identical vectors. Needs only torch, tokenizers and transformers, so the
GPU checks can build them on a machine without docveil's other dependencies."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    PreTrainedTokenizerFast,
    Siglip2Config,
    Siglip2ImageProcessorPil,
    Siglip2Model,
    SiglipConfig,
    SiglipModel,
)

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
WORDS = """a an the of in on at to for with and or is are was photo picture image scan scanned page
invoice receipt form letter street crossing car plate face person people gate barrier north south
red green blue black white x ray report site inspection meeting office desk badge card 0 1 2 3 4
5 6 7 8 9""".split()
# name: (hidden size, layers, heads, image size, patch, projection)
SIZES = {"tiny": (16, 2, 2, 32, 8, 16), "base": (768, 12, 12, 224, 32, 512)}


def word_tokenizer(max_length: int = 64) -> PreTrainedTokenizerFast:
    """A lower-casing word-level tokenizer over a small vocabulary ([CLS] text [SEP])."""
    vocab = {word: index for index, word in enumerate(dict.fromkeys((*SPECIALS, *WORDS)))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", model_max_length=max_length)


def save_random_image_model(folder: Path, kind: str = "clip", size: str = "tiny", seed: int = 0) -> Path:
    """A two-tower ``kind`` (clip, siglip or siglip2) model of ``size`` (tiny: a 16-dimensional space;
    base: the shape of CLIP ViT-B/32) with its image processor and tokenizer, in ``folder``."""
    hidden, layers, heads, image_size, patch, projection = SIZES[size]
    tokenizer = word_tokenizer()
    tower = dict(hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers, num_attention_heads=heads)
    text = dict(tower, vocab_size=len(tokenizer), max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    vision = dict(tower, image_size=image_size, patch_size=patch)
    torch.manual_seed(seed)
    if kind == "clip":
        model = CLIPModel(CLIPConfig(text_config=dict(text, bos_token_id=tokenizer.cls_token_id,
                                                      eos_token_id=tokenizer.sep_token_id),
                                     vision_config=vision, projection_dim=projection))
    elif kind == "siglip":
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
    else:  # SigLIP 2: patches of the picture at its own aspect ratio, up to a number of patches
        patches = (image_size // patch) ** 2
        model = Siglip2Model(Siglip2Config(text_config=text, vision_config=dict(tower, patch_size=patch,
                                                                                num_patches=patches)))
    model.save_pretrained(folder)
    if kind == "siglip2":
        Siglip2ImageProcessorPil(patch_size=patch, max_num_patches=patches).save_pretrained(folder)
    else:
        CLIPImageProcessor(size={"shortest_edge": image_size},
                           crop_size={"height": image_size, "width": image_size}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
