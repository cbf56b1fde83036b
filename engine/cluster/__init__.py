"""Beyond one machine (issue 16): what a cluster run needs that one machine does not.

``lease.py``: the timed lease that keeps an account's key in one place at a time. It imports
no cluster runtime; the single-machine path imports nothing from here.
"""
