"""Open containers (vials) with a beyond-use clock, waste, and product conversion to
counting units (issue 18)."""
