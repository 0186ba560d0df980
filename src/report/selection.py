"""The held-out validation table of the selection runs (``data.val_mode=heldout``).

Per (dataset, method, bits), one row per setting (the variant: the result-changing overrides
other than data.val_mode, src/report/runs.py): the validation mAP@50 of the last epoch in each
direction (results.json ``val/i2t_map@50``, ``val/t2i_map@50``), mean ± sample std over seeds,
and each setting's change from a reference setting paired by seed (the ablation table's rule,
:func:`src.report.tables.paired_change`). The test numbers of these runs come from a model
trained without its validation pairs and are not shown: they are no protocol numbers.
"""

import argparse
import re

from src.report.drift import normalise_overrides
from src.report.runs import DIRECTIONS, VAL_METRICS, Key, Run, cell
from src.report.tables import getter, paired_change
from src.utils.run_setting import variant


def reference(flag: str | None) -> str:
    """The reference setting named by ``--selection-ref`` (overrides joined by ``,``), in the
    form of a run's variant (sorted, neutral overrides dropped); "" (the experiment as
    configured) when not given.

    >>> reference("model.loss_scale=tuned,model.lr_img=1e-4")
    'model.loss_scale=tuned,model.lr_img=1e-4'
    """
    return variant(o.strip() for o in (flag or "").split(",") if o.strip())


# one override of a setting: key=value (the key dotted; + or ++ to add, ~ to delete)
OVERRIDE = re.compile(r"\+{0,2}[A-Za-z_][\w.@/-]*=.*|~[A-Za-z_][\w.@/-]*(=.*)?")


def overrides_flag(text: str) -> str:
    """An argparse ``type`` for ``--selection-ref``: "" or overrides ``key=value`` joined by
    ``,`` (``--selection-ref model.lam`` named no setting: every change read "reference not
    run")."""
    parts = [o.strip() for o in text.split(",") if o.strip()]
    bad = [o for o in parts if not OVERRIDE.fullmatch(o)]
    if bad or (text.strip() and not parts):
        raise argparse.ArgumentTypeError(
            "expected overrides key=value joined by ',' (e.g. model.lam=5 or "
            f"model.lam=5,model.rho=0.1; '' for the experiment as configured), got {text!r}"
        )
    return text


def group_reference(flag: str, dataset: str, method: str, bits: int) -> str:
    """``flag`` (a :func:`reference`) as the variants of the runs of (dataset, method, bits) are
    spelled: values as the report writes them, those equal to today's configuration dropped
    (src/report/drift.py)."""
    parts = [p for p in flag.split(",") if p]
    key = {"dataset": dataset, "method": method, "code_length": bits}
    return ",".join(normalise_overrides(key, parts))


def shown(setting: str) -> str:
    """A setting as a table cell."""
    return f"`{setting}`" if setting else "- (as configured)"


def selection_tables(groups: dict[Key, list[Run]], ref_flag: str) -> str:
    """Markdown tables of the held-out runs ``groups`` (rows of :func:`src.report.runs.group`),
    each setting's change against the setting ``ref_flag`` (see :func:`reference`), spelled as
    the runs' variants are for each group: setting minus reference, over the seeds both ran;
    "reference not run" where no run has that setting."""
    lines = []
    for dataset, method, bits in sorted({(k[0], k[1], k[3]) for k in groups}):
        rows = {
            k[2]: runs
            for k, runs in groups.items()
            if (k[0], k[1], k[3]) == (dataset, method, bits)
        }
        config_dataset = next(iter(rows.values()))[0].config_dataset  # not a store's label
        ref = group_reference(ref_flag, config_dataset, method, bits)
        base = {run.seed: run for run in rows.get(ref, [])}
        header = ["setting", "val I->T mAP@50", "val T->I mAP@50"]
        header += [f"{DIRECTIONS[d]} change vs reference" for d in DIRECTIONS] + ["seeds"]
        lines += [f"### {dataset}, {method}, {bits} bits (held-out validation)", ""]
        lines += [f"Reference: {shown(ref)}.", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for name in sorted(rows, key=lambda n: (n != ref, n)):
            runs = rows[name]
            row = [shown(name) + (" (reference)" if name == ref else "")]
            row += [cell([r.val_metrics[m] for r in runs]) for m in VAL_METRICS]
            for m in VAL_METRICS:
                change = paired_change(runs, base, getter("val_metrics", m)) if base else ""
                row.append("" if name == ref else change or "reference not run")
            row.append(", ".join(str(s) for s in sorted({r.seed for r in runs}, key=str)))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)
