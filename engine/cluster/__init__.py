"""Beyond one machine (issue 16; docs/cluster.md): the chats of several accounts spread over
a Ray cluster. ``schedule.py`` decides which account exports which chat, ``ray_run.py`` runs
it (one actor per account, pinned to its node), ``tied.py`` ties a job to its actor. The
only package that imports a cluster runtime (Ray, the optional ``tgarc[ray]`` extra); the
single-machine path imports nothing from it.
"""
