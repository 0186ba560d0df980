"""AGCH and its peer methods. Importing the package registers the configuration resolver
that names the built-in synthetic store by its parameters (``${synthetic_store:...}``,
configs/data/synthetic.yaml), so that every composition of the configs resolves it (train.py,
eval.py, the scripts, the tests)."""

from typing import Any

SYNTHETIC_RESOLVER = "synthetic_store"


def _synthetic_store(folder: Any, params: Any) -> str:
    """``<folder>/synthetic_<key>.h5`` for the generator parameters ``params`` (a config node)
    (`src.data.synthetic.store_file`)."""
    from omegaconf import OmegaConf

    from src.data.synthetic import store_file

    values = OmegaConf.to_container(params, resolve=True) if OmegaConf.is_config(params) else {}
    return store_file(str(folder), values)


def _register() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(SYNTHETIC_RESOLVER):
        OmegaConf.register_new_resolver(SYNTHETIC_RESOLVER, _synthetic_store)


_register()
