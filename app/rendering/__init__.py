"""Notifications into platform messages: sandboxed Jinja cards, split to size, digests."""
