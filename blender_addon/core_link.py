"""Where the add-on finds the pure-Python parts of the neural core.

Inside the built extension a copy of them sits next to the add-on
(``<extension>/neural_core``); in a repository checkout ``neural_core`` is a sibling
top-level package. The add-on never imports torch through it.
"""

try:  # the packaged extension carries its own copy
    from . import neural_core  # type: ignore[attr-defined]  # noqa: F401
except ImportError:  # repository checkout
    import neural_core  # noqa: F401
