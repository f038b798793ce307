"""Compare runs: mean and 95% CI over seeds per setting, as a table, a CSV, JSON, figures and TensorBoard.

example: python scripts/train.py -m experiment=single_head,multi_head seed=1,2,3
         python scripts/study.py logs/multiruns/single_head+multi_head/<date_time>
         python scripts/study.py logs/multiruns/a logs/multiruns/b --out docs/study --group-by experiment
"""

import argparse
import sys
from pathlib import Path

from attn_project.analysis.study import markdown, run_study, write_study
from attn_project.errors import exit_on_user_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="run or sweep folders (searched recursively)")
    parser.add_argument("--out", type=Path, help="where to write (default: FIRST_FOLDER/study)")
    parser.add_argument("--group-by", nargs="+", metavar="KEY",
                        help="config keys to group by (default: every override but seed)")
    args = parser.parse_args()
    with exit_on_user_error():
        study = run_study(args.folders, args.group_by)
        paths = write_study(study, args.out or args.folders[0] / "study")
    print(markdown(study))
    for path in paths.values():
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
