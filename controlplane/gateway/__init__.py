"""The control plane's half of the routing gateway (docs/gateway.md): providers and
their credentials, policies, routes, budgets, and the signed bundle edges pull."""
