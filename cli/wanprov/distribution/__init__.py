"""Fleet distribution: the controller fetches each profile once, the hosts share the verified files.

engine.py is the engine-neutral interface (publish verified files, fetch to staging, stop); aria2.py and
tracker.py are the BitTorrent engine on Debian's aria2c, mktorrent and opentracker; swarm.py is the use case
that hands what an engine staged to the models' verified placement (the `--from` path, by rename).
"""
