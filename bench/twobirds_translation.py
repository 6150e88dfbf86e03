"""Two Birds: the default sampler with and without completing the modes by translation.

For a ``pyro-cvae twobirds fit`` folder, draws 1000 samples for each of 50 conditions (the
challenge's scoring set, a conditions file, or ``generated``: 50 held-out conditions of the
run's own functions) with the sampler as it was before translation (2,000 proposals,
``translation_rounds=0``) and as it is now (the defaults: 1,000 proposals, 3 rounds),
interleaved in one process for ``--repeats`` repeats, and prints each run's precision, recall,
weighted recall and mode TV with the median seconds of each setting. Timings on a shared
machine are noisy; compare the two medians, not one run against a figure from elsewhere.

    python bench/twobirds_translation.py --checkpoint runs/twobirds [--conditions generated]
"""

import argparse
import statistics
import time
from pathlib import Path

import pyro

from pyro_cvae.train.run import Run
from pyro_cvae.twobirds import draw, evaluate_samples, exact_solutions, generate, load_challenge
from pyro_cvae.twobirds.train import functions_of

SCORING = Path(__file__).resolve().parents[2] / "shared" / "data" / "twobirds" / "scoring_dataset.pt"
SETTINGS = {
    "before: 2,000 proposals, no translation": dict(num_proposals=2000, translation_rounds=0),
    "now: the defaults (1,000 proposals, translation)": {},
}
KEYS = ("precision", "recall", "weighted_recall", "mode_tv")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--conditions", help="challenge file (default: the scoring set), or 'generated'")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    run = Run.load(args.checkpoint)
    model, functions = run.model, functions_of(run)
    conditions = args.conditions or str(SCORING)
    if conditions == "generated":
        y = generate(50, functions, seed=987_654_321)[1]  # bench/twobirds.py's held-out conditions
    else:
        y = load_challenge(conditions)[1]
    solutions = exact_solutions(y, functions)
    print(f"functions: {functions}; conditions: {conditions}; {args.num_samples} samples each")
    print("| sampler | repeat | " + " | ".join(KEYS) + " | seconds |")
    print("|---" * (len(KEYS) + 3) + "|")
    seconds = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, options in SETTINGS.items():
            pyro.set_rng_seed(repeat)
            start = time.perf_counter()
            samples = draw(model, y, args.num_samples, functions=functions, **options)
            seconds[name].append(time.perf_counter() - start)
            result = evaluate_samples(samples, y, functions, solutions)
            cells = " | ".join(f"{result[key]:.4g}" for key in KEYS)
            print(f"| {name} | {repeat} | {cells} | {seconds[name][-1]:.1f} |", flush=True)
    for name, values in seconds.items():
        print(f"{name}: median {statistics.median(values):.1f} s")


if __name__ == "__main__":
    main()
