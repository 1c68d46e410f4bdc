"""`fundus-studio models`: list, activate, import, export and delete models.

`fundus-studio models` alone lists what is installed (the active model of each
kind is marked with *). Everything the models dialog does is available here.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from core.errors import FundusError

NO_ENHANCER = (
    "No MAGE-Net model is installed yet: shipped weights arrive with the training work; "
    "a model package can be added with `fundus-studio models import PACKAGE.zip`."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, activate, import, export or delete enhancement and vessel models")
    p.add_argument("--kind", choices=["enhancer", "vessel"], help="only models of this kind")
    p.set_defaults(handler=run_list)
    actions = p.add_subparsers(dest="models_action", metavar="ACTION")

    a = actions.add_parser("list", help="list installed models (the default)")
    a.add_argument("--kind", choices=["enhancer", "vessel"], help="only models of this kind")
    a.set_defaults(handler=run_list)

    a = actions.add_parser("activate", help="use this model from now on (for its kind)")
    a.add_argument("model", metavar="NAME[@VERSION]")
    a.set_defaults(handler=run_activate)

    a = actions.add_parser("import", help="install a model package (.zip) exported by Fundus Studio")
    a.add_argument("package", metavar="PACKAGE.zip")
    a.add_argument("--overwrite", action="store_true", help="replace an installed user model of the same version")
    a.set_defaults(handler=run_import)

    a = actions.add_parser("export", help="write a model package (.zip) to pass a model to another workstation")
    a.add_argument("model", metavar="NAME[@VERSION]")
    a.add_argument("package", metavar="PACKAGE.zip")
    a.set_defaults(handler=run_export)

    a = actions.add_parser("delete", help="delete a user-installed model (shipped models cannot be deleted)")
    a.add_argument("model", metavar="NAME@VERSION")
    a.set_defaults(handler=run_delete)


def _registry():
    from core.models.registry import ModelRegistry  # noqa: PLC0415 - torch is imported only when needed

    return ModelRegistry()


def _format_params(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.2f} M" if n >= 100_000 else f"{n / 1e3:.1f} k"


def format_listing(registry, kind: str | None = None) -> list[str]:
    """Table lines for the installed models; empty when there are none."""
    models = registry.list(kind)
    if not models:
        return []
    active = {k: registry.active(k) for k in {m.card.kind for m in models}}
    rows = [("", "KIND", "NAME@VERSION", "ORIGIN", "PARAMS", "SHA256", "CREATED")]
    for m in models:
        a = active.get(m.card.kind)
        mark = "*" if a is not None and (a.ref, a.origin) == (m.ref, m.origin) else ""
        rows.append(
            (mark, m.card.kind, m.ref, m.origin, _format_params(m.parameter_count()), m.card.sha256[:12] or "-",
             m.card.created or "-")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def run_list(args: argparse.Namespace) -> int:
    registry = _registry()
    lines = format_listing(registry, args.kind)
    for path, reason in registry.problems:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if lines:
        print("\n".join(lines))
        print("(* = active model of its kind)")
    if args.kind in (None, "enhancer") and not registry.list("enhancer"):
        print(NO_ENHANCER)
    for kind in ("enhancer", "vessel"):
        if args.kind in (None, kind) and registry.list(kind) and registry.active(kind) is None:
            print(f"No {kind} model is active yet: choose one with `fundus-studio models activate NAME@VERSION`.")
    print(f"user models folder: {registry.user_dir}")
    return 0


def _act(verb: str, target: str, action: Callable[[], str]) -> int:
    """Run one model action; a FundusError becomes "cannot VERB TARGET: reason" and exit code 1."""
    try:
        message = action()
    except FundusError as err:
        print(f"cannot {verb} {target}: {err}", file=sys.stderr)
        return 1
    print(message)
    return 0


def run_activate(args: argparse.Namespace) -> int:
    def activate() -> str:
        registry = _registry()
        model = registry.get(args.model)
        registry.set_active(model.card.kind, model.card.name, model.card.version)
        return f"{model.ref} is now the active {model.card.kind} model"

    return _act("activate", args.model, activate)


def run_import(args: argparse.Namespace) -> int:
    def install() -> str:
        model = _registry().import_package(args.package, overwrite=args.overwrite)
        return (f"installed {model.ref} ({model.card.kind}, sha256 {model.card.sha256[:12]}) "
                f"into {model.weights_path.parent}")

    return _act("import", args.package, install)


def run_export(args: argparse.Namespace) -> int:
    def export() -> str:
        registry = _registry()
        return f"wrote {registry.export_package(registry.get(args.model), args.package)}"

    return _act("export", args.model, export)


def run_delete(args: argparse.Namespace) -> int:
    def delete() -> str:
        name, _, version = args.model.partition("@")
        if not version:
            raise FundusError("give the exact model to delete as NAME@VERSION")
        registry = _registry()
        model = registry.get(name, version)
        registry.delete(model)
        return f"deleted {model.ref}"

    return _act("delete", args.model, delete)
