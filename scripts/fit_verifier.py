"""Refit the hit verifier's score (`gateway/cache/verifier/trees.json`) from labeled prompt pairs, and print its
out-of-fold rates: how the shipped trees and their cut were made.

    .venv/bin/pip install lightgbm scikit-learn   # only for this tool, never at run time
    .venv/bin/python scripts/fit_verifier.py ../shared/data/pairs/qqp_dev.csv ../shared/data/pairs/paws_dev.csv

The first file sets the cut: the score at which its hit recall, out-of-fold and over all its duplicates, is
`--recall`. The different pairs of the files after the first (PAWS's look-alikes: the same words in other roles)
weigh `--look-alike-weight` in the fit, so the one cut serves them fewer wrong hits than an even weight would
(their hit recall pays, not the first file's rates). Pairs a rule already rejects, or
farther apart than `--reach`, are left out of the fit (the score never sees them at run time either). Folds are
grouped so that no question text is in both the fitted and the measured part."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from gateway.cache.verifier.rules import READ_CHARS, _reading, difference
from gateway.cache.verifier.score import FEATURES, TREES, features
from gateway.embedding.local import LocalEmbedder
from gateway.errors import EmbedderError
from gateway.settings import load_settings

Row = tuple[list[float], int, int, str, str]


def _rows(paths: list[Path], embedder: LocalEmbedder, reach: float) -> tuple[list[Row], list[tuple[int, int]]]:
    """Per kept pair: features, label, file number, cached text, query text; and per file, how many of all its
    pairs are duplicates and how many different (the rates' denominators)."""
    vectors: dict[str, np.ndarray | None] = {}

    def vector(text: str) -> np.ndarray | None:
        if text not in vectors:
            try:
                vectors[text] = embedder.embed_batch([text])[0]  # one at a time, as the gateway embeds
            except EmbedderError:
                vectors[text] = None
        return vectors[text]

    rows, totals = [], []
    for number, path in enumerate(paths):
        duplicates = different = 0
        with path.open(newline="", encoding="utf-8") as handle:
            for pair in csv.DictReader(handle):
                cached, query = pair["question1"], pair["question2"]
                duplicate = pair["is_duplicate"].strip() == "1"
                duplicates, different = duplicates + duplicate, different + (not duplicate)
                a, b = vector(cached), vector(query)
                if a is None or b is None or difference(query, cached) is not None:
                    continue
                distance = 1.0 - float(a @ b)
                if distance <= reach:
                    row = features(_reading(query[:READ_CHARS]), _reading(cached[:READ_CHARS]), distance)
                    rows.append((row, int(duplicate), number, cached, query))
        totals.append((duplicates, different))
    return rows, totals


def _groups(rows: list[Row]) -> np.ndarray:
    """Connected components of texts, so a question and its pairs land in one fold."""
    parent: dict[str, str] = {}

    def root(text: str) -> str:
        while parent.setdefault(text, text) != text:
            parent[text] = parent[parent[text]]
            text = parent[text]
        return text

    for *_, cached, query in rows:
        parent[root(cached)] = root(query)
    names: dict[str, int] = {}
    return np.array([names.setdefault(root(cached), len(names)) for *_, cached, _ in rows])


def _tree_nodes(dump: dict) -> tuple[list[int], list[list[float]]]:
    nodes: list[list[float]] = []

    def walk(tree: dict) -> int:
        at = len(nodes)
        nodes.append([])
        if "leaf_value" in tree:
            nodes[at] = [-1, 0.0, at, at, tree["leaf_value"]]
        else:
            left, right = walk(tree["left_child"]), walk(tree["right_child"])
            nodes[at] = [tree["split_feature"], tree["threshold"], left, right, 0.0]
        return at

    roots = [walk(tree["tree_structure"]) for tree in dump["tree_info"]]
    return roots, nodes


def main() -> None:
    import lightgbm as lgb
    from sklearn.model_selection import GroupKFold

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", type=Path)
    parser.add_argument("--reach", type=float, default=0.20)
    parser.add_argument("--recall", type=float, default=0.435)
    parser.add_argument("--look-alike-weight", type=float, default=1.5)
    parser.add_argument("--out", type=Path, default=TREES)
    args = parser.parse_args()

    embedder = LocalEmbedder(model_dir=load_settings().latency_slayer_model_dir)
    rows, totals = _rows(args.pairs, embedder, args.reach)
    x = np.array([row[0] for row in rows])
    y = np.array([row[1] for row in rows])
    source = np.array([row[2] for row in rows])

    def model() -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(n_estimators=100, learning_rate=0.1, num_leaves=8, min_child_samples=100,
                                  verbose=-1, random_state=0)

    weight = np.where((source > 0) & (y == 0), args.look_alike_weight, 1.0)
    scores = np.zeros(len(y))
    for fit, held in GroupKFold(5).split(x, groups=_groups(rows)):
        scores[held] = model().fit(x[fit], y[fit], sample_weight=weight[fit]).predict_proba(x[held])[:, 1]
    # The cut serves `--recall` of all the first file's duplicates out-of-fold (those a rule rejects count as lost).
    first = (source == 0) & (y == 1)
    cut = float(np.sort(scores[first])[::-1][int(np.ceil(args.recall * totals[0][0])) - 1])
    for number, path in enumerate(args.pairs):
        mine, (duplicates, different) = source == number, totals[number]
        wrong = ((scores >= cut) & mine & (y == 0)).sum()
        right = ((scores >= cut) & mine & (y == 1)).sum()
        print(f"{path.name}: out-of-fold false hits {wrong / different:.2%} ({wrong}/{different}), hit recall "
              f"{right / duplicates:.1%} ({right}/{duplicates})")
    roots, nodes = _tree_nodes(model().fit(x, y, sample_weight=weight).booster_.dump_model())
    args.out.write_text(json.dumps({"features": list(FEATURES), "threshold": round(cut, 6), "reach": args.reach,
                                    "base": 0.0, "roots": roots, "nodes": nodes}, separators=(",", ":")))
    print(f"cut {cut:.6f}; wrote {args.out}")


if __name__ == "__main__":
    main()
