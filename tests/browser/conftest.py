"""The browser tests' fixtures (tests/browser/support.py): the running stack and the browser."""

from tests.browser.support import browser, stack

__all__ = ["browser", "stack"]
