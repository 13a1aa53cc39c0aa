"""A weights double: model files real in format (the real ComfyUI loaders parse and run them), fake in value,
small where the loaders read the size from the file, full size where the loader's configuration is fixed.
Generated on demand, never committed: `python -m tests.doubles.weights --help`; what each loader demands is
cited in wan.py, flux.py and fixed_models.py."""

from .build import LARGE, Options, generate, profile_entries, shipped_profiles, writer_for

__all__ = ["LARGE", "Options", "generate", "profile_entries", "shipped_profiles", "writer_for"]
