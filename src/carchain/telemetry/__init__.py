"""Operations telemetry: Prometheus metric sets (one ``CollectorRegistry`` per owner,
never the process-global one) and the log formats.

It sits between ``engine`` and ``storage`` in the layers: the engine records its
latencies and transaction counts here; the node API and the gateway expose them.
The core never imports it (it stays pure).
"""
