"""People and access: who may do what, and the trail of what was done (issue 20, under way)."""
