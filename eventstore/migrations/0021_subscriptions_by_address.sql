-- How many new subscriptions an address was given in a tenant lately (notifications/store/
-- subscriptions.py `check_address_room`): a kiosk lets anybody type anybody's address.
CREATE INDEX subscriptions_address ON subscriptions (tenant_id, lower(address), created_at);
