"""The advice routes that need more than a read: staffing plans made in the background."""
