"""The simulator: service days of a scenario, as timed commands for the real domain.

`scenario` reads the scenario files (the true parameters), `world` generates the timed
commands (and reacts to the events they produce), `offline` folds them locally through the
estimators with the `oracle` alongside, `report` prints the tables, `live` sends them to the
running product through its HTTP API on the API's (accelerated) clock, and `cli` adds
`vq simulate`.
"""
