"""docs/api.md's error table is the registry: every registered error, its codes, status
and fields. Regenerate it with ``.venv/bin/python -m tests.docs.test_error_table``."""

from __future__ import annotations

import re
from pathlib import Path

from carchain.errors import CarchainError, get_registered_errors

API_MD = Path(__file__).parents[2] / "docs" / "api.md"
BEGIN, END = "<!-- error table: begin (generated) -->", "<!-- error table: end -->"


def compute_group(cls: type[CarchainError]) -> str:
    """Return the error's group: the module under ``carchain.errors`` it lives in."""
    return cls.__module__.rsplit(".", 1)[-1] if cls is not CarchainError else "base"


def compute_error_table() -> str:
    """Return the Markdown table of the registry, in ABCI code order."""
    rows = ["| code | class | group | ABCI | HTTP | fields |", "|---|---|---|---|---|---|"]
    for cls in sorted(get_registered_errors(), key=lambda c: c.abci_code):
        fields = ", ".join(f"`{name}`" for name in cls.field_types) or "-"
        rows.append(
            f"| `{cls.code}` | `{cls.__name__}` | {compute_group(cls)} | {cls.abci_code} "
            f"| {cls.http_status} | {fields} |"
        )
    return "\n".join(rows)


def _find_section(text: str) -> re.Match[str]:
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match is not None, "docs/api.md lacks the generated error table markers"
    return match


def _section(text: str) -> str:
    return _find_section(text).group(1)


def write_error_table() -> None:
    """Rewrite the table between the markers of docs/api.md (nothing else)."""
    text = API_MD.read_text()
    match = _find_section(text)
    API_MD.write_text(text[: match.start(1)] + compute_error_table() + text[match.end(1) :])


def test_error_table_in_api_md_is_the_registry() -> None:
    assert _section(API_MD.read_text()) == compute_error_table(), (
        "regenerate: .venv/bin/python -m tests.docs.test_error_table"
    )


def test_every_registered_code_appears_once_in_the_table() -> None:
    table = _section(API_MD.read_text())
    for cls in get_registered_errors():
        assert table.count(f"| `{cls.code}` |") == 1, cls.code


if __name__ == "__main__":
    write_error_table()
