"""The native parts (src/native), built with pybind11 by `pip install -e`.

- `warroom._engine_core`, the engine's per-record core: needs only a C++17 compiler.
- `warroom._ndjson_scan`, the NDJSON scanner: built when simdjson's headers are there
  (`apt-get install libsimdjson-dev`; `make install` does it).
Both are optional: without them warroom installs and runs the numpy/polars engine and
the Python decoder, which give the same output more slowly.
"""

from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

HAVE_SIMDJSON = any(Path(d, "simdjson.h").exists() for d in ("/usr/include", "/usr/local/include"))

ext_modules = [
    Pybind11Extension(
        "warroom._engine_core",
        ["src/native/engine_core.cpp"],
        depends=sorted(str(h) for h in Path("src/native").glob("*.hpp")),
        cxx_std=17,
        extra_compile_args=["-O3"],
        optional=True,  # no compiler: the reference engine runs instead
    )
]
if HAVE_SIMDJSON:
    ext_modules.append(
        Pybind11Extension(
            "warroom._ndjson_scan",
            ["src/native/ndjson_scan.cpp"],
            libraries=["simdjson"],
            cxx_std=17,
            extra_compile_args=["-O3"],
            optional=True,
        )
    )
else:
    print("warroom: simdjson.h not found; building without the native NDJSON scanner")

setup(ext_modules=ext_modules)
