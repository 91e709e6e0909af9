"""Behavioral security: per-agent baselines, detectors, alerts, incidents, quarantine."""
