"""Scale-out training for Reprise on PyTorch.

The networks of Reprise's model layer (the relative-attention Music Transformer and its beat-aware
piano form), trained with PyTorch's distributed data parallel (``torchrun``) on the token shards that
``reprise tokenize`` writes, exported as model folders Reprise loads unchanged.
"""

__all__ = ["vocab", "model", "shards", "data", "config", "weights", "evaluate", "train"]
