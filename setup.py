"""The native NDJSON scanner (src/native): built when simdjson's headers are there.

Without them (`apt-get install libsimdjson-dev`; `make install` does it) warroom
installs without the extension and decodes every line in Python, more slowly.
"""

from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

HAVE_SIMDJSON = any(Path(d, "simdjson.h").exists() for d in ("/usr/include", "/usr/local/include"))

ext_modules = []
if HAVE_SIMDJSON:
    ext_modules.append(
        Pybind11Extension(
            "warroom._ndjson_scan",
            ["src/native/ndjson_scan.cpp"],
            libraries=["simdjson"],
            cxx_std=17,
            extra_compile_args=["-O3"],
        )
    )
else:
    print("warroom: simdjson.h not found; building without the native NDJSON scanner")

setup(ext_modules=ext_modules)
