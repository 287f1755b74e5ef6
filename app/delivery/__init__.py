"""One worker per receiver: rate limit, render at send time, send, retry, storm digests."""
