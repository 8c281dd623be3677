"""Every response type is ready for threads once the types module is imported: msgspec builds a type's
decoding plan on first use, and two threads doing it at once crash the process."""

import importlib
import pkgutil

import investigations
from investigations.mimecast import types


def test_every_response_type_has_its_plan_built_on_import():
    # Import every module of the portal, so a Model defined anywhere is a subclass by now.
    for module in pkgutil.walk_packages(investigations.__path__, "investigations."):
        if ".migrations" not in module.name and ".management" not in module.name:
            importlib.import_module(module.name)
    assert set(types._subclasses(types.Model)) == set(types.PREPARED_MODELS)
    assert types.TrackedEmail in types.PREPARED_MODELS and types.Group in types.PREPARED_MODELS
