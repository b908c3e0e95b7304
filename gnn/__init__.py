"""Learning: features, the GraphSAGE model, training, evaluation, the registry of runs, inference.

PyG's import applies ``torch.jit.script`` to a few of its own classes, which torch >= 2.10 answers with a
FutureWarning on every command that imports it. Nothing of ours uses TorchScript, so that one warning is
silenced here, where our code first reaches PyG; every other warning still shows.
"""

import warnings

warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
