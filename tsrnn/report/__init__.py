"""Human-readable reports (Rich). Machine formats are produced by the callers as JSON/CSV."""
