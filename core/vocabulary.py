"""The product's shared names and defaults, in one torch-free, Qt-free home.

The CLI, the GUI and the core read them from here; the modules that implement them (core.explain.methods,
core.explain.overlay, core.model.device) check at import that they implement exactly these names.
"""

from __future__ import annotations

from typing import TypedDict

# Explanation methods, in the order the GUI cycles them (M); core.explain.methods registers one callable per name.
METHODS = ("amortised", "gradcam", "attention", "reference", "decomposition", "ablation", "occlusion", "integrated",
           "coalition")
# The default first map is the model's amortised explainer; a model without one falls back to Grad-CAM.
DEFAULT_METHOD = "amortised"

# Heatmap colormaps (core.explain.overlay maps each to an OpenCV colormap). The counterfactual layer has its own, cool
# one, so that with both layers on the evidence for and against the decision can be told apart.
COLORMAPS = ("jet", "turbo", "viridis", "inferno", "magma", "plasma", "cool", "winter")
DEFAULT_COLORMAP = "jet"
DEFAULT_COUNTERFACTUAL_COLORMAP = "winter"
# Each layer's colormap on a fresh workstation, in a report and in `explain --out`, unless one is chosen.
DEFAULT_LAYER_COLORMAPS = {"factual": DEFAULT_COLORMAP, "counterfactual": DEFAULT_COUNTERFACTUAL_COLORMAP}

# The two maps of an explanation, bottom to top, and how a fresh workstation shows them: (visible, opacity).
LAYERS = ("factual", "counterfactual")
LAYER_TITLES = {"factual": "Factual", "counterfactual": "Counterfactual"}
DEFAULT_LAYER_STATE = {"factual": (True, 0.5), "counterfactual": (False, 0.5)}

# Where the model runs: "auto" is CUDA when usable, else the CPU.
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = "auto"

# A crop box narrower or lower than this (pixels, per side) leaves the network nothing to look at.
MIN_CROP_SIDE = 16

# Maps are kept at most this long on their longest side (--out .npy, reports); displays upsample them.
MAX_MAP_SIDE = 2048

# The square network input's side in pixels a model may have: what train and pretrain accept and a weights file's
# config may hold (core.model.weights.CONFIG_RANGES).
INPUT_SIZE_RANGE = (16, 1024)

# Test-time augmentation of a model's embedding (core.model.tta): none, + horizontal flip, the 8 flips and rotations.
TTA_MODES = ("none", "hflip", "dihedral")


class TrainingDefaults(TypedDict):
    architecture: str
    input_size: int
    embedding_dim: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    margin: float
    augment: str
    patience: int
    seed: int
    crop_margin: float
    cache_dir: str


class PretrainingDefaults(TypedDict):
    epochs: int
    probe_every: int
    probe_k: int


# Training defaults: the one copy that ModelConfig, TrainOptions and the CLI's train parser all read.
TRAINING_DEFAULTS: TrainingDefaults = {
    "architecture": "resnet18",
    "input_size": 128,
    "embedding_dim": 128,
    "epochs": 30,
    "batch_size": 64,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "margin": 1.0,
    "augment": "hflip,vflip,rotate,crop,jitter",
    "patience": 8,
    "seed": 0,
    "crop_margin": 0.15,
    "cache_dir": ".cache",
}
# Self-supervised pretraining (core.training.pretrain): the one copy PretrainOptions and the CLI's pretrain parser read.
PRETRAINING_DEFAULTS: PretrainingDefaults = {"epochs": 100, "probe_every": 5, "probe_k": 20}

# What every screen and report says about the product's standing.
DISCLAIMER = "Research tool, not a medical device: not for diagnosis."
