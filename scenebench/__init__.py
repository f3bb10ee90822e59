"""scenebench: deterministic dataset generation and benchmarks for object-centric scene learning.

Heavy dependencies (h5py, torch, pyrender) are imported lazily so that
``import scenebench`` and ``scenebench --help`` stay fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load", "iterate", "generate"]


def __getattr__(name):  # PEP 562 lazy attributes
    if name == "load":
        from .datasets.torch_dataset import load

        return load
    if name == "iterate":
        from .datasets.reader import iterate

        return iterate
    if name == "generate":
        from .datasets.build import generate

        return generate
    raise AttributeError(f"module 'scenebench' has no attribute {name!r}")
