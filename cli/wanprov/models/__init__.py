"""Model files: the catalog and profiles (data), a plan against a models folder, and a verified transfer.

catalog -> plan (what is present, what is pending, disk preflight) -> fetch (hub or local mirror) -> record.
Nothing here knows about click; the commands in `wanprov.commands` are thin adapters.
"""
