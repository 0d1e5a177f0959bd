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


def read_pairs(path: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """The ``(image, text)`` pairs of a CSV file whose header names the columns image and text
    (any case), image paths relative to the CSV's folder; and the rows without an image."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip().lower() for name in next(reader, [])]
            rows = list(reader)
    except UnicodeDecodeError:
        fail(f"cannot read {path}: it must be UTF-8 text")
    except (OSError, csv.Error) as exc:
        fail(f"cannot read {path}: {exc.__class__.__name__}")
    if "image" not in header or "text" not in header or not rows:
        fail(f"{path} needs a header row with the columns image and text, and at least one row")
    image, text = header.index("image"), header.index("text")
    pairs, missing = [], []
    for number, row in enumerate(rows, 2):
        cell = row[image].strip() if image < len(row) else ""
        if cell:
            pairs.append((path.parent / cell, row[text] if text < len(row) else ""))
        else:
            missing.append(f"row {number}")
    return pairs, missing


@app.command("finetune-pictures")
def finetune_pictures(
    pairs: Annotated[Path, typer.Argument(help="CSV file with the columns image (a path, relative to the file) and text.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="New folder for the fine-tuned model (use it as image_model).")],
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=1000, help="Passes over the pairs.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2, max=4096, help="Pairs per step; the other pictures of a batch are the negatives.")] = 32,
    learning_rate: Annotated[float, typer.Option("--learning-rate", min=1e-9, max=1.0, help="AdamW learning rate.")] = 1e-5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the order batches are drawn in.")] = 0,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Fine-tune the image model (image_model) on your own pictures and captions: pictures are
    redacted and captions pseudonymised first (admin role; audited)."""
    principal = principal_from(tenant, user, role)
    rows, missing = read_pairs(pairs)
    for row in missing:
        say(err, f"left out {row} of ", str(pairs), ": no image")

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
