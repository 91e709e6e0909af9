"""Evidence packages: a tenant's evidence of one period as a signed ZIP an auditor can
verify offline (docs/compliance-auditors.md)."""
