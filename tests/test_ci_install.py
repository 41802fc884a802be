"""ci/constraints.txt holds every requirement at one version, ci/install.sh uses it on each pip
install (and re-installs when it changes), and the environment under test has those versions."""
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def constraints() -> dict[str, str]:
    out = {}
    for line in (ROOT / "ci" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            assert normal(name) not in out, f"{name} is constrained twice"
            out[normal(name)] = version
    return out


def requirements() -> list[Requirement]:
    lines = [l.split("#")[0].strip() for l in (ROOT / "ci" / "requirements.txt").read_text().splitlines()]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = [l for l in lines if l] + project["dependencies"]
    specs += [s for extra in project["optional-dependencies"].values() for s in extra]
    return [Requirement(s) for s in specs]


def test_every_requirement_has_one_constraint_that_satisfies_its_pin():
    pinned = constraints()
    for req in requirements():
        assert normal(req.name) in pinned, f"{req.name} has no line in ci/constraints.txt"
        assert req.specifier.contains(pinned[normal(req.name)], prereleases=True), (req, pinned[normal(req.name)])


def test_install_passes_the_constraints_to_every_pip_install_and_stamps_them():
    script = (ROOT / "ci" / "install.sh").read_text()
    installs = [l for l in script.splitlines() if "pip install" in l and not l.lstrip().startswith("#")]
    assert installs and all("-c ci/constraints.txt" in l for l in installs), installs
    stamp = next(l for l in script.splitlines() if l.startswith("want="))
    assert "ci/constraints.txt" in stamp and "ci/requirements.txt" in stamp and "pyproject.toml" in stamp


def test_the_environment_has_the_constrained_versions():
    """The packages under test are the ones ci/constraints.txt names (local labels like +cpu aside)."""
    wrong = {}
    for name, version in constraints().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue          # an optional extra this environment does not have
        if Version(installed).public != Version(version).public:
            wrong[name] = (installed, version)
    assert wrong == {}, f"installed != ci/constraints.txt: {wrong} (bash ci/update-constraints.sh, deliberately)"
