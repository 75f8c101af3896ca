"""Flags that several subcommands share, worded once."""

from __future__ import annotations

#: ``--model`` of every command that loads a generator (translate, evaluate, serve, export).
MODEL_HELP = (
    "a model folder (runs/NAME/final, or any save_pretrained folder), a .safetensors file, a "
    "reference latest_net_G.pth, a registry name such as facades_label2photo (see `pix2pix "
    "models`; downloaded once) or a Hugging Face Hub id owner/name"
)
