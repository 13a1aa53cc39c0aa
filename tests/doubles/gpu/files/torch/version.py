"""torch.version of the fake torch: the CUDA the wheel was built for (None for a CPU build)."""

from torch import _HOST

__version__ = _HOST["version"]
cuda = _HOST["cuda"]
