"""MkDocs hook: generate the TrainerConfig table from the dataclass, so the docs never drift."""

from __future__ import annotations

import dataclasses

MARKER = "<!-- trainer-config-table -->"


def trainer_config_table() -> str:
    from pix2pix.cli.train import _FLAG_NAMES
    from pix2pix.trainer import TrainerConfig

    help_ = TrainerConfig.field_help()
    defaults = TrainerConfig()
    lines = ["| field | CLI flag | default | meaning |", "|---|---|---|---|"]
    for field in dataclasses.fields(TrainerConfig):
        flag = _FLAG_NAMES.get(field.name, ("--" + field.name.replace("_", "-"),))[0]
        default = getattr(defaults, field.name)
        meaning = help_.get(field.name, "").replace("|", "\\|")
        lines.append(f"| `{field.name}` | `{flag}` | `{default!r}` | {meaning} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, trainer_config_table())
    return markdown
