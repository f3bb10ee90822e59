"""Scoring predictions: how a submission is checked, scored and ranked.

- :mod:`.metrics`: the metric library (numpy in, floats out)
- :mod:`.submission`: writing submissions, and reading them as untrusted input
- :mod:`.evaluate`: validate a submission against its dataset, then score it
- :mod:`.leaderboard`, :mod:`.paper_numbers`: entries, rendering, the papers' published numbers
- :mod:`.reproduce`: generate, train, predict and evaluate a paper's table

Nothing heavy is imported here.
"""
