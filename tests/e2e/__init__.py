"""End-to-end tests: the real prometheus, prometheus-alertmanager and `alertbridge serve` processes
on 127.0.0.1, delivering to the fake bots of tests/fakes on a loopback port."""
