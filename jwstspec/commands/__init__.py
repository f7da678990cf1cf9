"""The ``jwstspec`` subcommands: one module per command (the only place in ``jwstspec`` that runs the flow)."""
