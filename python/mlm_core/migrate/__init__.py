"""The migration pipeline: legacy exports in, a validated company in the store out, nothing lost."""
