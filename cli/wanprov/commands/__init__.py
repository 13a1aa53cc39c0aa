"""Thin click adapters over the core. Each command module is imported only when its command runs."""
