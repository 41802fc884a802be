"""Write an output directory (or file) atomically: build it in a temp sibling, then rename.

A failure part-way leaves the previous output (or nothing) in place, never a half-written one.
What is written gets the permissions of any new file (0666/0777 less the umask), not the
0600/0700 of a temporary one. Operating-system failures (a parent that is a file, no permission,
a read-only disk) are one-line PqErrors naming the path.

A folder the user names (`build -o DIR`) is replaced only when pqcompile may own it: it does not
exist, is empty, or holds the caller's marker file (e.g. a build folder's report.json). Anything
else is refused and left as it was: pqcompile never deletes what it did not write. Such a folder
also lists what pqcompile wrote into it (MANIFEST); files the user added later are copied into the
replacement (a rebuild keeps them), and a rebuild that would write over one of them is refused.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from .errors import PqError

MANIFEST = ".pqcompile-files"   # in a marked folder: the paths pqcompile wrote, one per line


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_error(action: str, path, e: OSError) -> PqError:
    return PqError(f"cannot {action} {path}: {e.strerror or e}")


def _cwd() -> Path | None:
    try:
        return Path.cwd().resolve()
    except OSError:      # the current folder was deleted
        return None


def make_dirs(folder: Path, shown) -> None:
    """mkdir -p folder, or a one-line PqError about the output `shown` that needs it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        blocker = next((a for a in (folder, *folder.parents) if a.exists() and not a.is_dir()), None)
        if blocker is None:
            raise _os_error("create", shown, e) from None
        raise PqError(f"cannot create {shown}: {blocker} is not a folder") from None
    except OSError as e:
        raise _os_error("create", shown, e) from None


def _check_creatable(folder: Path, shown) -> None:
    """PqError now, before any work, when `shown` could not be written in folder: its nearest
    existing ancestor is a file or not writable."""
    existing = next((a for a in (folder, *folder.parents) if a.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise PqError(f"cannot create {shown}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PqError(f"cannot create {shown}: {existing} is not writable")


def _owned(final: Path, marker: str | None, ignore: tuple[str, ...] = ()) -> bool:
    """Whether the existing folder final may be replaced: empty, or holding marker (None: the
    caller owns every folder it names, e.g. a run folder's checkpoint/)."""
    if marker is None or (final / marker).is_file():
        return True
    return not [e for e in os.listdir(final) if e not in ignore]


def check_replaceable(path: str | os.PathLike, marker: str | None = None) -> Path:
    """The absolute path that atomic_dir(path, marker) writes; a one-line PqError when it may not:
    path is a file, a folder that is neither empty nor holds marker, or contains the current folder."""
    final = Path(path)
    try:
        final = final.resolve()
        _check_creatable(final.parent, path)
        if not final.exists():
            return final
        if not final.is_dir():
            raise PqError(f"{path} exists and is not a folder")
        if not _owned(final, marker):
            raise PqError(f"{path} is not empty and was not written by pqcompile (it has no {marker}): "
                          "refusing to replace it; choose a new or empty folder")
    except OSError as e:
        raise _os_error("use", path, e) from None
    cwd = _cwd()
    if cwd is not None and final in cwd.parents:
        raise PqError(f"cannot replace {path}: it contains the current folder")
    return final


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, marker: str | None = None):
    """with atomic_dir("build/cortex-m7", marker="report.json") as tmp: write into tmp; on success
    tmp replaces path. With a marker, an existing path must be empty or hold that file (see
    check_replaceable); the current folder itself is filled in place (it cannot be renamed away)."""
    final = check_replaceable(path, marker)
    in_place = final == _cwd()
    base = final if in_place else final.parent
    make_dirs(base, path)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=base))
    except OSError as e:
        raise _os_error("create", path, e) from None
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
        if marker is not None:
            _write_manifest(tmp)
        if in_place:
            _fill_in_place(tmp, final, marker)
        else:
            replace_dir(tmp, final, marker)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _tree(folder: Path) -> list[str]:
    """Every path under folder (files, links and folders), relative, '/'-separated, sorted."""
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [(rel / n).as_posix() for n in dirs + files]
    return sorted(out)


def _write_manifest(tmp: Path) -> None:
    paths = [p for p in _tree(tmp) if p != MANIFEST]
    try:
        (tmp / MANIFEST).write_text("".join(p + "\n" for p in paths), encoding="utf-8")
    except OSError as e:
        raise _os_error("write", tmp / MANIFEST, e) from None


def _users_files(final: Path, tmp: Path, ignore: tuple[str, ...] = ()) -> list[str]:
    """The top-most paths in the marked folder final that its manifest does not list (the user's
    own; [] when it has no manifest: written before manifests existed, all of it is pqcompile's),
    or a one-line PqError (nothing changed) when the replacement tmp writes one of them itself."""
    try:
        listed = set((final / MANIFEST).read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError):
        return []
    extra = []
    for p in _tree(final):
        if p == MANIFEST or p in listed or p.split("/")[0] in ignore:
            continue
        if not any(p.startswith(e + "/") for e in extra):
            extra.append(p)
    clash = [p for p in extra if os.path.lexists(tmp / p)]
    if clash:
        raise PqError(f"{final} holds {clash[0]}, which pqcompile did not write and would now overwrite: "
                      "move it away or choose another folder")
    return extra


def _carry_users_files(final: Path, tmp: Path) -> None:
    """Copy the user's files of the marked folder final into its replacement tmp."""
    for p in _users_files(final, tmp):
        src, dst = final / p, tmp / p
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir() and not src.is_symlink():
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
        except OSError as e:
            raise _os_error("keep", src, e) from None


def replace_dir(tmp: Path, final: Path, marker: str | None = None) -> None:
    """Put the finished directory tmp at final (a sibling), replacing what was there (with a
    marker, only a folder check_replaceable accepts; the user's files in it are kept)."""
    check_replaceable(final, marker)
    final = Path(final)
    if marker is not None and final.is_dir():
        _carry_users_files(final, tmp)
    old = None
    try:
        if final.exists():
            old = final.parent / f".{final.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
        os.replace(tmp, final)
    except OSError as e:
        if old is not None and not final.exists():
            with contextlib.suppress(OSError):
                os.replace(old, final)
        raise _os_error("replace", final, e) from None
    if old is not None and old.is_symlink():
        old.unlink()
    elif old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fill_in_place(tmp: Path, final: Path, marker: str | None) -> None:
    """Replace final's content by tmp's (tmp lies inside final): for the current folder."""
    try:
        if not _owned(final, marker, ignore=(tmp.name,)):
            raise PqError(f"{final} is not empty and was not written by pqcompile (it has no {marker}): "
                          "refusing to replace it; choose a new or empty folder")
        keep = set(_users_files(final, tmp, ignore=(tmp.name,)))
        _remove_all_but(final, keep | {tmp.name})
        for rel in _tree(tmp):
            src, dst = tmp / rel, final / rel
            if src.is_dir() and not src.is_symlink() and dst.is_dir():
                continue                        # a folder the user's files kept: fill it
            if os.path.lexists(src) and not os.path.lexists(dst):
                os.replace(src, dst)
        shutil.rmtree(tmp)
    except OSError as e:
        raise _os_error("write into", final, e) from None


def _remove_all_but(folder: Path, keep: set[str], rel: str = "") -> None:
    """Delete what lies in folder (at relative path rel, "" or ending in "/") except the paths in
    keep and the folders on their way."""
    for entry in os.listdir(folder):
        p, r = folder / entry, rel + entry
        if r in keep:
            continue
        if p.is_dir() and not p.is_symlink():
            if any(k.startswith(r + "/") for k in keep):
                _remove_all_but(p, keep, r + "/")
            else:
                shutil.rmtree(p)
        else:
            p.unlink()


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb"):
    """with atomic_file("model.onnx") as f: write; the file appears complete or not at all."""
    final = Path(path)
    make_dirs(final.parent, path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    except OSError as e:
        raise _os_error("write", path, e) from None
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, mode) as f:
            yield f
        try:
            os.replace(tmp, final)
        except OSError as e:
            raise _os_error("write", path, e) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
