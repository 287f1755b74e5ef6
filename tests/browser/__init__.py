"""Browser tests: the console in a real headless Chromium (selenium, Debian's chromium and
chromium-driver), against `alertbridge serve`, the fake bots and prometheus-alertmanager."""
