"""The inbound path after parsing: heartbeat, de-duplication, routing, folding, enqueueing."""
