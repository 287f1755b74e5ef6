"""Test support kit: builders, the in-process app, the process launcher, bots."""
