"""REST API views, one module per area. Views are thin: they check the request with a
serializer, call a service with ``self.actor``, and shape the answer with a serializer.
Access, tenant scope, idempotency, rate limits and errors are the base's job
(controlplane.api.base)."""
