"""Reports: metrics, the monthly review pack, exports (issue 13, in progress: small-number
suppression so far)."""
