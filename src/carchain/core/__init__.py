"""The deterministic state machine.

Everything in this package is a pure function of state, block context and
transaction: it never reads the clock, randomness, environment, network or disk.
"""
