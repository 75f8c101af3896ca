"""docs/src/architecture.md stays true: every file it names exists, and every module of the
trainer and the models (the packages it maps file by file) is on it."""

import re
from pathlib import Path

import pix2pix

PACKAGE = Path(pix2pix.__file__).parent
PAGE = PACKAGE.parent / "docs" / "src" / "architecture.md"


def test_every_file_the_page_names_exists():
    text = PAGE.read_text()
    named = {n for n in re.findall(r"[\w/]+\.py", text) if "NAME" not in n}  # NAME: a template
    paths = [str(p) for p in PACKAGE.parent.rglob("*.py") if ".venv" not in p.parts]
    missing = sorted(n for n in named if not any(path.endswith("/" + n) for path in paths))
    assert missing == [], f"architecture.md names files that do not exist: {missing}"


def test_every_trainer_and_model_module_is_on_the_page():
    text = PAGE.read_text()
    modules = [*PACKAGE.glob("trainer/*.py"), *PACKAGE.glob("trainer/checkpoint/*.py")]
    modules += list(PACKAGE.glob("models/*.py"))
    unlisted = sorted(
        str(p.relative_to(PACKAGE))
        for p in modules
        if p.name != "__init__.py" and p.name not in text
    )
    assert unlisted == [], f"modules missing from architecture.md: {unlisted}"
