"""Start a child as a terminal starts it: with Ctrl-C's default action.

A shell runs a background job (`cmd &`, nohup, CI runners that background their steps) with SIGINT ignored,
and a child inherits that; Python then installs no KeyboardInterrupt handler, so a test that sends Ctrl-C
to a `wanprov` it started would test nothing but the ignore. Pass `preexec_fn=sigint_default` to Popen."""

from __future__ import annotations

import signal


def sigint_default() -> None:
    """Runs in the child between fork and exec: SIGINT back to its default, as at a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
