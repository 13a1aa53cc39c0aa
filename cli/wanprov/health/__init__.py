"""Instance health: one running ComfyUI answers, and every rendered API workflow validates against its
live /object_info (file lists included once the models are in place), optionally a tiny real run.

`wanprov health check` (commands/health.py) and the Ansible module `wanprov.gpu.health` are thin adapters
over `check_instance`; the fleet report reads the result it builds (schema wanprov.instance-health/2)."""
