"""Making datasets and reading them back: how a sample becomes bytes on disk, and back.

- :mod:`.identity`: fingerprints and the per-sample random streams
- :mod:`.schema`: declared features -> HDF5 layout and batch buffers
- :mod:`.codecs`: the chunk compression filters (deflate by default)
- :mod:`.shards`: one shard task: draw, compress, write, hash
- :mod:`.writer`: plan, journal, resume, manifest last; :mod:`.executors`: local processes, Dask
- :mod:`.manifest`, :mod:`.reader`, :mod:`.torch_dataset`: reading splits (numpy, torch)
- :mod:`.verify`, :mod:`.card`: checks and the generated dataset card
- :mod:`.build`: ``generate(family, preset, ...)``, the library form of ``scenebench generate``

Nothing heavy is imported here.
"""
