"""Inbound sources: one module per webhook sender, each turning a request body into a Notification.

InvalidPayload is the only error a source raises; the API answers it with its status code.
"""

from __future__ import annotations


class InvalidPayload(Exception):
    """A request body that no retry can fix.

    `status_code` is 400 when the body is not parseable at all (bad JSON, bad encoding), 413 when
    it holds more alerts than the limit and 422 when it parses but has the wrong shape (a label
    set over its limits included); `message` says where, without echoing the body.
    """

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
