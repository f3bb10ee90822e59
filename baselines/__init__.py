"""Reference baselines: one package per paper method, shared parts in ``common``.

Installed as ``scenebench.baselines`` (never as a top-level ``baselines``).
"""
