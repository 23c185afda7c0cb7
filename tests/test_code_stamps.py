"""Every rule declares the library code its script imports, so that editing that code reruns the rule.

Snakemake does not see the modules a script imports; each rule declares them through a code stamp (an
input listing library sources, ``code_stamp(...)`` in workflow/rules/common.smk). A module missing from the
stamp would let a changed model or reader keep stale outputs. This test follows every ``terraflux`` import
of every rule's script, transitively through the library, and checks that the rule's stamp lists each of
those modules, for both producers of the raw layer (synthetic and download rules).
"""

import ast
from pathlib import Path

from terraflux.config import REPO_ROOT
from terraflux.workflow.debug import load_workflow

import pytest

from support.configs import config_path

LIBRARY = REPO_ROOT / "src"


def _module_file(name: str) -> Path | None:
    """The source file of the library module ``name`` (``terraflux.a.b``), or None if it is not one."""
    base = LIBRARY.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(path: Path) -> set[str]:
    """The ``terraflux`` modules that ``path`` imports anywhere in its code, with their parent packages
    (importing ``terraflux.a.b`` runs ``terraflux/a/__init__.py`` too); ``from terraflux.a import b`` counts
    ``terraflux.a.b`` when ``b`` is a module."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(LIBRARY).with_suffix("").parts[:-1]) if path.is_relative_to(LIBRARY) else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative import inside the library
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*parts, module] if module else parts)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    out = set()
    for name in names:
        if name == "terraflux" or name.startswith("terraflux."):
            parts = name.split(".")
            out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in out if _module_file(name) is not None}


def library_closure(script: Path) -> set[Path]:
    """The library source files ``script`` runs when it is executed: its imports, transitively."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for name in _imported_modules(todo.pop()):
            file = _module_file(name)
            if file not in seen:
                seen.add(file)
                todo.append(file)
    return seen


def stamp_listing(workdir: Path, stamp: str) -> set[Path]:
    """The library files a code stamp lists (lines ``<sha256>  <path relative to src/terraflux>``)."""
    lines = (workdir / stamp).read_text().splitlines()
    return {LIBRARY / "terraflux" / line.split(maxsplit=1)[1] for line in lines}


@pytest.mark.parametrize(("origin", "part_years"), [("synthetic", 0), ("download", 0), ("synthetic", 1)])
def test_every_rule_declares_the_library_code_its_script_imports(tmp_path, origin, part_years):
    extra = tmp_path / "origin.yaml"
    extra.write_text(f"run: {{origin: {origin}}}\nprepare: {{part_years: {part_years}}}\n")
    missing = {}
    checked = 0
    with load_workflow([config_path("tiny"), extra], directory=tmp_path) as workflow:
        for rule in workflow.rules:
            if not rule.script:
                continue
            script = Path(str(rule.basedir)) / rule.script
            needed = library_closure(script)
            if not needed:
                continue
            declared = stamp_listing(tmp_path, str(rule.input["code"])) if "code" in rule.input.keys() else set()
            lacking = sorted(str(p.relative_to(LIBRARY)) for p in needed - declared)
            if lacking:
                missing[rule.name] = lacking
            checked += 1
    assert checked > 10, "no rule with a script was found: the workflow did not load as expected"
    assert not missing, (
        "rules whose code stamp misses library modules their script imports (add the package to the rule's "
        f"code_stamp(...)): {missing}"
    )


def test_the_closure_follows_imports_through_the_library(tmp_path):
    script = tmp_path / "script.py"
    script.write_text("def main():\n    from terraflux.ide import stages\n")
    closure = {str(p.relative_to(LIBRARY)) for p in library_closure(script)}
    # a function-level import counts; the package __init__ files run too; stages imports the model
    assert {"terraflux/__init__.py", "terraflux/ide/__init__.py", "terraflux/ide/stages.py"} <= closure
    assert "terraflux/ide/model.py" in closure and "terraflux/train/engine.py" in closure
