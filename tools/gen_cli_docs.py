"""Generate docs/cli.md, the CLI reference, from the typer/click command tree.

    python tools/gen_cli_docs.py            # writes docs/cli.md
    python tools/gen_cli_docs.py --check    # exit 1 if docs/cli.md is not current

``tests/cli/test_cli_docs.py`` regenerates it and compares, so the reference cannot rot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import typer

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _is_option(p) -> bool:
    return getattr(p, "param_type_name", "") == "option"


def _ctx(cmd, path: str):
    return cmd.context_class(cmd, info_name=path)


def _esc(text: str) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _command(path: str, cmd, out: list[str]) -> None:
    out.append(f"## `{path}`\n")
    doc = (cmd.help or "").strip()
    if doc:
        out.append(doc.replace("\b", "").strip() + "\n")
    args = " ".join(f"{p.name.upper()}" + ("..." if getattr(p, "nargs", 1) == -1 else "")
                    for p in cmd.params if not _is_option(p))
    sub = " COMMAND" if getattr(cmd, "commands", None) else ""
    out.append(f"```\n{path} [OPTIONS]{(' ' + args) if args else ''}{sub}\n```\n")
    rows = []
    for p in cmd.params:
        if getattr(p, "hidden", False):
            continue
        record = p.get_help_record(_ctx(cmd, path))
        if record is None:
            continue
        names, meaning = record
        rows.append(f"| `{names}` | {_esc(meaning)} |")
    if rows:
        out.append("| option | meaning |\n|---|---|")
        out.extend(rows)
        out.append("")
    for name in sorted(getattr(cmd, "commands", None) or {}):
        _command(f"{path} {name}", cmd.commands[name], out)


def render() -> str:
    from inferplan.cli.main import app

    root = typer.main.get_command(app)
    out = ["# CLI reference\n",
           "Generated from the command definitions by `python tools/gen_cli_docs.py`; "
           "`tests/cli/test_cli_docs.py` fails when it is out of date. Exit codes: 0 success, "
           "1 a negative answer (does not fit, nothing served, SLO missed, coverage below 50%), "
           "2 bad input. Durations take units (`50ms`, `1.5s`, `2m`; a bare number is seconds). "
           "Listing commands take `--format table|json|csv`; `--json` is `--format json`. A failing "
           "`--json` command prints `{\"error\": {\"type\", \"message\", \"exit_code\"}}` on stdout "
           "(`type`: the error's class, e.g. `UnknownIdError`, `DoesNotFitError`, `LayoutError`, or for "
           "a bad option `BadParameter`, `NoSuchOption`, `MissingParameter`; the estimate contract's "
           "does-not-fit answer keeps its own JSON).\n"]
    _command("inferplan", root, out)
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is out of date")
    args = ap.parse_args()
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        sys.exit(0 if current == text else 1)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC} ({text.count(chr(10))} lines)")


if __name__ == "__main__":
    main()
