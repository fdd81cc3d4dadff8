"""The query side's HTTP: queues, lines and tickets from the read models, live push (SSE and
WebSocket), analytics, and the pages for screens and managers. It never imports the command
side; both stand on `http_api`."""
