"""The README's "Layout of the code" names every module of the package, and only those."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _code_map() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Layout of the code", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    return dict(re.findall(r"^(xlnet/\S+)\s+(.+)$", block, flags=re.M))


def test_every_module_is_in_the_code_map_with_a_line_saying_what_it_owns():
    listed = _code_map()
    modules = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "xlnet").rglob("*.py")
        if p.parent.name != "xlnet" or p.name not in ("__init__.py", "__main__.py")
    }
    missing = sorted(modules - set(listed))
    stale = sorted(k for k in listed if not (ROOT / k).exists())
    assert not missing, f"modules missing from the README's code map: {missing}"
    assert not stale, f"the README's code map lists what does not exist: {stale}"
    assert all(len(line.split()) >= 3 for line in listed.values())


def test_every_subpackage_is_shipped():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = set(project["tool"]["setuptools"]["packages"])
    packages = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "xlnet").rglob("__init__.py")
    }
    assert packages <= shipped, f"not in pyproject's packages: {sorted(packages - shipped)}"
