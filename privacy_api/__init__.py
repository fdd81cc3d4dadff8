"""HTTP routes for a person's data: access (export) and erasure, by staff or by the person."""
