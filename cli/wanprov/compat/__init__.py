"""Compatibility knowledge: the cited tables in `manifests/compat/` and pure functions over them."""
