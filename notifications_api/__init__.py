"""Reaching people, over HTTP: subscriptions on a ticket (by its token), templates, webhook
endpoints (secrets, test ping, delivery log, replay), alerts, schedules and a queue's defaults.

Routes parse, authorise and map; what is stored and sent is `notifications`' business.
"""
