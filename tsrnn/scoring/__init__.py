"""Errors → scores in [0, 1] → events: numpy only."""
