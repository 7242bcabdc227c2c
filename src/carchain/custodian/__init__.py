"""The escrow custodian's service: watches the chain's cases and releases its shares of
the keys in an authorised case's scope, sealed to the officer, only after the chain's
quorum and its own checks (``carchain custodian start``)."""
