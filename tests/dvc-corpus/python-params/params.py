"""Training settings. DVC reads the constants below as params; nothing here is run."""
import os

LR = 0.01  # learning rate
EPOCHS: int = 3
LAYERS = [16, 8]
DROPOUT = None
DATA_DIR = os.environ.get("DATA_DIR", "data")  # an expression: no param
WIDTH = HEIGHT = 32  # two targets: no param

if os.environ.get("BIG"):
    LAYERS = [64, 32]  # inside an `if`: no param


class Train:
    optimizer = "adam"
    betas = (0.9, 0.999)

    class Schedule:
        warmup: int = 2
        kind = 'cosine'

    def __init__(self, seed=0):
        self.seed = 7
        self.derived = seed  # not a literal: no param

    def describe(self):
        self.never = "read"
