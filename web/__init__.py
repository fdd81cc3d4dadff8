"""The pages people use: the kiosk, the ticket page, the staff and admin consoles, the displays."""
