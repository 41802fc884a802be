"""The learning curve PNG of a run: training loss and dev metrics per epoch (matplotlib, Agg)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from ..atomic import atomic_file  # noqa: E402


def plot_learning_curve(history: list[dict], path: Path) -> None:
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_dev) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [r["loss"] for r in history], marker="o")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (log scale)")
    ax_loss.set_yscale("log")
    dev = [(r["epoch"], r["dev"]["overall"]) for r in history if r.get("dev")]
    for key, label in (("exact_match", "exact match"), ("intent_accuracy", "intent accuracy"),
                       ("slot_f1", "slot F1")):
        ax_dev.plot([e for e, _ in dev], [m[key] for _, m in dev], marker="o", label=label)
    ax_dev.set_xlabel("epoch")
    ax_dev.set_ylabel("dev")
    ax_dev.set_ylim(0, 1)
    if dev:
        ax_dev.legend(loc="lower right")
    fig.tight_layout()
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format="png", dpi=80)
    plt.close(fig)
