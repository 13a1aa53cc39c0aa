"""A local stand-in for the Hugging Face Hub's download protocol, with scriptable faults.

In tests: `HubServer(root).start()`; as a process (the fleet end-to-end test runs it as the hub of
several hosts): `python -m tests.doubles.hub --root DIR --port N` (from the repository root).
Files live at `ROOT/<owner>/<name>/<path>`.
"""

from .server import Fault, HubServer, write_file

__all__ = ["Fault", "HubServer", "write_file"]
