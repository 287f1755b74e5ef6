"""`python -m app` runs the command-line interface."""

from app.cli.entry import main

raise SystemExit(main())
