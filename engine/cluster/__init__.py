"""Beyond one machine (issue 16; docs/cluster.md): the chats of several accounts spread over
a cluster. ``schedule.py`` decides which account exports which chat. The only package that
may import a cluster runtime (Ray, the optional ``tgarc[ray]`` extra); the single-machine
path imports nothing from it.
"""
