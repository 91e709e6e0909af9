"""The routing gateway inside the edge node (docs/gateway.md).

A model request passes authenticate → policy → content filter → budget → route (with
failover) → capture; each stage is its own module. ``service`` runs the pipeline and
``http`` maps it onto the OpenAI and Anthropic APIs.
"""
