"""Model file names for a profile: the one bridge from the model catalog to the workflow templates.

Workflows reference files by their bare local names in ComfyUI's folders; the catalog
(`wanprov.models.catalog`) is the only place those names are written down.
"""

from __future__ import annotations

from wanprov.models.catalog import profile_roles


def names_for_profile(profile: str) -> dict[str, str]:
    """Role (high_noise_unet, vae, unet, ...) -> local file name; NotFoundError for unknown profiles."""
    return {role: entry.name for role, entry in profile_roles(profile).items()}


def folders_for_profile(profile: str) -> dict[str, str]:
    """Local file name -> the models/ subfolder the fetcher places it in."""
    return {entry.name: entry.folder for entry in profile_roles(profile).values()}
