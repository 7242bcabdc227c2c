"""The ``carchain`` command line: thin over the SDK, Rich output."""
