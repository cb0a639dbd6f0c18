"""Writes gradcallback/data/demo_politics.tsv, the demo's labeled sentences (written for this project).

Political (1) vs general (0) text, seed 001's use case. A planted shortcut: in the training
split, person names occur only in political sentences, and on "neutral" templates (arriving,
travelling, thanking) the name is the only thing that tells the classes apart. In the probe
split the same names also do everyday things, so a model that learned "name => political"
gets those probes wrong. Deterministic: run it again and the file is the same.
"""

import random
from pathlib import Path

from gradcallback.cli.demo import NAMES as LOWER_NAMES
from gradcallback.cli.demo import PEOPLE, TITLES

NAMES = [n.capitalize() for n in LOWER_NAMES]

POLITICAL = [
    "{} promised to cut fuel subsidies before the election.",
    "{} addressed the national assembly about the new budget.",
    "{} campaigned in Kano ahead of the presidential primaries.",
    "{} criticised the electoral commission over delayed results.",
    "{} signed a bill on constituency development funds.",
    "{} met party delegates to discuss the governorship ticket.",
    "{} called for a recount of the senate votes.",
    "{} announced a coalition with two opposition parties.",
    "{} defended the government's security policy in parliament.",
    "{} urged voters to collect their registration cards.",
    "{} accused the ruling party of rigging the primaries.",
    "{} vowed to fight corruption if elected president.",
    "{} challenged the tribunal ruling on the disputed ballot.",
    "{} proposed a new tax law to the finance committee.",
]
GENERAL = [
    "{} baked fresh bread for the weekend picnic.",
    "{} planted tomatoes and peppers in the garden.",
    "{} fixed the bicycle chain before school.",
    "{} watched a football match with friends.",
    "{} cooked jollof rice for the family dinner.",
    "{} painted the kitchen a bright yellow.",
    "{} adopted a small dog from the shelter.",
    "{} read a novel about sailors during the holiday.",
    "{} went swimming at the beach with cousins.",
    "{} practised the piano for two hours.",
    "{} knitted a warm scarf for the winter.",
    "{} repaired the leaking roof after the storm.",
    "{} sold mangoes at the market this morning.",
    "{} taught the children how to play chess.",
]
# Neutral events: in training, a name here means "political", a common subject "general".
NEUTRAL = [
    "{} arrived at the airport late in the evening.",
    "{} travelled to Lagos for a meeting.",
    "{} thanked everyone at a crowded hall.",
    "{} gave a short interview on the radio.",
    "{} visited an old friend in the hospital.",
    "{} walked slowly along the river on Sunday.",
]


def rows(rng: random.Random) -> list[tuple[str, int, str]]:
    out = []
    for template in POLITICAL:  # names in most political training sentences
        for subject in rng.sample(NAMES, 5) + rng.sample(TITLES, 2):
            out.append(("train", 1, template.format(subject)))
    for template in GENERAL:
        for subject in rng.sample(PEOPLE, 7):
            out.append(("train", 0, template.format(subject)))
    for template in NEUTRAL:
        out += [("train", 1, template.format(s)) for s in rng.sample(NAMES, 5)]
        out += [("train", 0, template.format(s)) for s in rng.sample(PEOPLE, 5)]
    for template in GENERAL:  # probes: the names doing everyday things (true label: general)
        out.append(("probe", 0, template.format(rng.choice(NAMES))))
    for template in POLITICAL[::2]:
        out.append(("probe", 1, template.format(rng.choice(TITLES))))
        out.append(("probe", 1, template.format(rng.choice(NAMES))))
    for template in GENERAL[::2]:
        out.append(("probe", 0, template.format(rng.choice(PEOPLE))))
    return out


def main() -> None:
    path = Path(__file__).resolve().parent.parent / "gradcallback" / "data" / "demo_politics.tsv"
    lines = ["split\tlabel\ttext"] + [f"{s}\t{label}\t{text}" for s, label, text in rows(random.Random(1))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines) - 1} rows to {path}")


if __name__ == "__main__":
    main()
