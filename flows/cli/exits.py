"""The exit codes of every ``newsflow`` command, the only copy."""

EXIT_OK = 0  # done
EXIT_FAILED = 1  # the command ran and failed (a stage, a query, a data test of severity error)
EXIT_USAGE = 2  # the command line was wrong (as argparse exits)
