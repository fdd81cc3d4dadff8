"""The leaf every process shares: settings, the clock and ticket tokens. Imports no other package
of this project, so anything may import it."""
