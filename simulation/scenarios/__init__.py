"""Shipped scenario files (TOML, one per scenario; `simulation.scenario.load` reads them)."""
