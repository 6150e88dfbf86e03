"""The diagnostics beside exact answers: a CVAE that contains a linear-Gaussian model, fitted,
then its IWAE estimate against the exact log p(x | y), interval coverage, SBC and posterior
coverage, and the same with an over-confident guide (``pyro_cvae.diagnostics.linear_gaussian``).
Prints one JSON object; the README's "Uncertainty diagnostics" figures come from it.

    python bench/known_answers.py [--seed 0]
"""

import argparse
import json

from pyro_cvae.diagnostics.linear_gaussian import fit_linear_cvae, known_answer_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="the initial weights' seed")
    args = parser.parse_args(argv)
    report = known_answer_report(fit_linear_cvae(args.seed))
    print(json.dumps({k: round(v, 6) for k, v in report.items()}, indent=1))


if __name__ == "__main__":
    main()
