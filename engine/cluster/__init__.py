"""Beyond one machine (issue 16; docs/cluster.md): the chats of several accounts spread over
a Ray cluster. ``schedule.py`` decides which account exports which chat, ``ray_run.py`` runs
it (one actor per account, pinned to its node), ``tied.py`` ties a job to its actor,
``tasks.py`` runs a job's workers as Ray tasks, ``metrics.py`` merges the jobs' metrics. The
only package that imports a cluster runtime (Ray, the optional ``tgarc[ray]`` extra); the
single-machine path imports nothing from it.
"""

import os

# Ray reads it when it is imported, and every module here that imports Ray is under this
# package: no usage reports
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
