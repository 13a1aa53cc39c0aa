"""wanprov: a tuned, verified ComfyUI for Wan 2.2 image-to-video and Flux on NVIDIA GPU hosts."""

__version__ = "0.1.0"
