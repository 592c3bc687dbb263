"""The request pipeline: auth -> rate limit -> send -> classify -> retry."""
