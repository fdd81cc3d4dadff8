"""The service layer: commands in, outcomes out. Loads a queue, decides, appends; speaks no HTTP.

The command routes, the aging scheduler and the simulator all call `QueueService.execute`; the
event store behind it is a port (PostgreSQL in production, in memory for the simulator).
"""
