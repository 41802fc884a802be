"""host_library: C sources built once into a cached shared library."""
import shutil

import pytest

from pqcompile.host_library import HostBuildError, cached_library

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs the host gcc")
FLAGS = ["-O2", "-fPIC", "-shared"]


def test_built_once_then_cached_and_rebuilt_when_the_source_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    lib = cached_library("tiny", "int tiny(void) { return 1; }\n", "gcc", FLAGS)
    assert lib.is_file() and lib.parent == tmp_path / "pqcompile" / "host"
    stamp = lib.stat().st_mtime_ns
    assert cached_library("tiny", "int tiny(void) { return 1; }\n", "gcc", FLAGS) == lib
    assert lib.stat().st_mtime_ns == stamp
    other = cached_library("tiny", "int tiny(void) { return 2; }\n", "gcc", FLAGS)
    assert other != lib and other.is_file()
    assert sorted(p.name for p in lib.parent.iterdir()) == sorted([lib.name, other.name])   # no temporaries left


def test_a_compile_error_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(HostBuildError) as e:
        cached_library("broken", "int broken(void) { return }\n", "gcc", FLAGS)
    assert "\n" not in str(e.value) and "error" in str(e.value)
    assert list((tmp_path / "pqcompile" / "host").iterdir()) == []
