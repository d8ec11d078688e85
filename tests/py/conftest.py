"""Shared pytest fixtures: where libsluice.so is.

The library is found through, in order: $SLUICE_LIB (a path to the .so),
$SLUICE_BUILD/libsluice.so, build/libsluice.so. A missing library is a test
failure with a clear message, never a skip: a suite that skips everything
would pass without testing anything.
"""
import ctypes
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_libsluice():
    candidates = []
    if os.environ.get("SLUICE_LIB"):
        candidates.append(os.environ["SLUICE_LIB"])
    if os.environ.get("SLUICE_BUILD"):
        candidates.append(os.path.join(os.environ["SLUICE_BUILD"], "libsluice.so"))
    candidates.append(os.path.join(ROOT, "build", "libsluice.so"))
    for c in candidates:
        if os.path.isfile(c):
            return c
    return None


@pytest.fixture(scope="session")
def libsluice_path():
    path = find_libsluice()
    if path is None:
        pytest.fail(
            "libsluice.so not found: build it (cmake -S . -B build -G Ninja && "
            "ninja -C build) or set SLUICE_LIB=/path/to/libsluice.so or "
            "SLUICE_BUILD=/path/to/build", pytrace=False)
    return path


@pytest.fixture(scope="session")
def libsluice(libsluice_path):
    return ctypes.CDLL(libsluice_path)


@pytest.fixture(scope="module")
def sj(libsluice_path):
    """The JSON reader through ctypes (tests/py/jsonutil.py). A missing
    library fails (through libsluice_path), as everywhere here."""
    from jsonutil import SluiceJson
    return SluiceJson()
