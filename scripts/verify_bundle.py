#!/usr/bin/env python3
"""Check an investigation's exported bundle without the portal: `python3 verify_bundle.py BUNDLE.json`.

Needs only Python 3.11's standard library. The checks live in investigations/core/bundle_verify.py
(the portal's `manage.py verify_bundle` runs the same ones); this script loads that file from the
portal's tree, or from beside itself, so an auditor needs just the two files in one folder.
Exit 0 and "OK: N events, head seq S" when the bundle is intact, 1 naming what failed otherwise.
"""

import importlib.util
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_CANDIDATES = (_HERE / "bundle_verify.py", _HERE.parent / "investigations" / "core" / "bundle_verify.py")


def _load():
    for path in _CANDIDATES:
        if path.is_file():
            # Loaded by path, not as a package module: an auditor's copy has no package around it.
            spec = importlib.util.spec_from_file_location("bundle_verify", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    sys.exit(f"bundle_verify.py not found next to this script or in the portal's tree ({_CANDIDATES[1]})")


if __name__ == "__main__":
    sys.exit(_load().main())
