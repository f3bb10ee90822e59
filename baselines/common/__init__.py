"""Shared model parts: conv blocks, training loop, schedules, checkpoints."""
