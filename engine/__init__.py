"""tgarc: a fast, resumable command-line archiver for Telegram chats."""

__version__ = "0.1.0"
