"""Accounts: users and organisations, hashed tokens, model visibility, rate limits and usage records."""
