"""Partner-format adapters (one subpackage per partner format)."""
