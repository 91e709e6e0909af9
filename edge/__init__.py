"""The edge node: receives agent telemetry at the customer site and spools it durably
until the control plane pulls it. See docs/edge-protocol.md (the contract) and
docs/decisions/0006-edge-spool.md. Nothing here imports Django."""

__version__ = "0.1.0"
