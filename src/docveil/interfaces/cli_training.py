"""``docveil finetune-pictures``: fine-tune the image model on a CSV of pictures and captions."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from docveil.interfaces.cli import (
    JsonOpt,
    RoleOpt,
    TenantOpt,
    UserOpt,
    _engine,
    app,
    emit_json,
    err,
    fail,
    guarded,
    out,
    principal_from,
    say,
)


def read_pairs(path: Path) -> list[tuple[Path, str]]:
    """``image,text`` rows of a CSV file (a header row naming both columns); image paths are
    relative to the CSV's folder."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        fail(f"cannot read {path}: {exc.__class__.__name__}")
    if not rows or not {"image", "text"} <= set(rows[0]):
        fail(f"{path} needs a header row with the columns image and text, and at least one row")
    return [(path.parent / (row["image"] or "").strip(), row["text"] or "") for row in rows]


@app.command("finetune-pictures")
def finetune_pictures(
    pairs: Annotated[Path, typer.Argument(help="CSV file with the columns image (a path, relative to the file) and text.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="New folder for the fine-tuned model (use it as image_model).")],
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=1000)] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2, max=4096)] = 32,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=1e-9, max=1.0)] = 1e-5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Fine-tune the image model (image_model) on your own pictures and captions: pictures are
    redacted and captions pseudonymised first (admin role; audited)."""
    principal = principal_from(tenant, user, role)
    rows = read_pairs(pairs)

    def run():
        with _engine() as engine:
            return engine.finetune_image_model(
                rows, principal, output, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                seed=seed, on_epoch=None if as_json else lambda epoch, loss: say(out, f"epoch {epoch}: loss {loss:.4f}"))

    result = guarded(run)
    for failure in result.failed:
        say(err, "left out ", failure.source, f": {failure.reason}")
    if as_json:
        emit_json({**dataclasses.asdict(result), "output": str(result.output),
                   "failed": [dataclasses.asdict(f) for f in result.failed]})
        return
    say(out, f"fine-tuned on {result.pairs} pairs in {result.steps} steps ({result.seconds:.0f} s): ",
        str(result.output))
