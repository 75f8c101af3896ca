"""Names and fixed choices shared across the package: file names, directions, option lists.

A leaf module (it imports nothing of pix2pix), so every layer can read these without an import
cycle. Choice tuples are all named ``*_CHOICES``.
"""

from __future__ import annotations

# ---- files of a saved model folder (save_pretrained / from_pretrained)
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"

# ---- files of a run folder (Trainer.fit)
RUN_CONFIG_NAME = "run_config.json"  # the run's record: models, data, trainer settings
TRAINER_STATE_NAME = "trainer_state.pt"  # in each checkpoint: optimizers, counters, RNG
CHECKPOINT_MANIFEST_NAME = "checkpoint.json"  # in each checkpoint: position and checksums
CHECKPOINTS_DIR = "checkpoints"
FINAL_DIR = "final"
SAMPLES_DIR = "samples"  # sample grids, samples/step-000200.png
BEST_DIR = "best"  # the best models by a validation metric (keep_best)
REPORT_NAME = "report.html"  # pix2pix report RUN

# ---- choices
DIRECTION_CHOICES = ("AtoB", "BtoA")
PRECISION_CHOICES = ("fp32", "bf16", "fp16")
GAN_MODE_CHOICES = ("vanilla", "lsgan", "hinge", "wgangp")
PENALTY_CHOICES = ("mixed", "real", "fake")
LR_POLICY_CHOICES = ("linear", "step", "cosine", "constant")
PREPROCESS_CHOICES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")

# ITU-R BT.601 luma weights, the ones Pillow's convert("L") uses.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
