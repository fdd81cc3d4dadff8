"""command_api."""
