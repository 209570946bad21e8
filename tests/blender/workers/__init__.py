"""Small stand-in workers that speak the real worker protocol (for process-management tests)."""
