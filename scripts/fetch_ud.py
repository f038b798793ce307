"""Fetch a Universal Dependencies treebank's train/dev/test CoNLL-U files into a folder.

example: python scripts/fetch_ud.py --treebank en_ewt --out data/ud/en_ewt
         python scripts/fetch_ud.py --treebank en_ewt --out data/ud/en_ewt --from DOWNLOADED_FOLDER
"""

import argparse
import sys
from pathlib import Path

from attn_project.data.ud import copy_treebank, download_treebank


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--treebank", default="en_ewt", help="file prefix, e.g. en_ewt")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the .conllu files to")
    parser.add_argument("--from", dest="source", type=Path, help="copy from this local folder instead")
    parser.add_argument("--tag", default="r2.14", help="UD release tag to download")
    parser.add_argument("--repo", help="repository name, e.g. UD_English-EWT (known treebanks: automatic)")
    args = parser.parse_args()
    try:
        if args.source:
            written = copy_treebank(args.treebank, args.source, args.out)
        else:
            written = download_treebank(args.treebank, args.out, args.tag, args.repo)
    except (OSError, ValueError) as err:
        print(f"fetch_ud: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"use it with: python scripts/train.py experiment=ud_single_head data.root={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
