"""One module per `make bench` scenario: TITLE and run(ctx) -> {"figures", "goals", "info"}."""
