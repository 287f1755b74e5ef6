"""The `alertbridge` command: serve, check-config, render, route-test, send-test, outbox."""
