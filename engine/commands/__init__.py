"""The commands, one module each: ``export``, ``render``, ``repair``, ``verify``, ``tune``,
``demo``, ``account`` (login, logout, chats), ``doctor``; ``common`` is what they share.

Each takes validated settings, returns an exit code and raises the project's errors;
``engine/cli.py`` parses the flags and maps those errors to exit codes and one line.
"""
