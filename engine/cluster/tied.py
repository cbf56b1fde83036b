"""``python -m engine.cluster.tied PARENT_PID COMMAND...``: COMMAND, killed by the kernel
when its parent (an account's actor) dies.

A Ray actor whose node dies or is killed leaves its children running unless they are tied
to it; an export job left running would go on using the account's key beside the one Ray
starts elsewhere. ``PR_SET_PDEATHSIG`` survives the ``exec``; the parent is checked after
setting it, so a parent that died in between is noticed too. No Ray here: the job imports
nothing of the cluster.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    parent, command = int(argv[0]), argv[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        print(f"tgarc: cannot tie the job to its actor (errno {ctypes.get_errno()})",
              file=sys.stderr)
        return 4
    if os.getppid() != parent:          # the actor died before the tie was made
        return 4
    os.execv(command[0], command)
    return 4                            # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
