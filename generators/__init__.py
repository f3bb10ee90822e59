"""Built-in dataset generators (installed as ``scenebench.generators``).

One module per dataset family; each describes how ONE scene is drawn from
``(rng, config)``. See :mod:`scenebench.generator` for the contract.
"""
