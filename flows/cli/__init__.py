"""The ``newsflow`` command: thin commands that parse args, call the library, map errors."""
