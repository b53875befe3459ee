"""The one verdict on a pair: what the model can stand behind, or none. Numpy only, so the GUI thread, reports,
the CLI, batch, worklist and similar cases all read the same words from here.

    similar       the calibrated P(same class) lies above the model's inconclusive band
    different     it lies below the band
    inconclusive  it lies inside the band: on validation pairs there the model is wrong too often to say
    not assessed  an image lies outside the model's domain, or the model has no calibration or band to judge by

The verdict follows from the calibrated probability alone, never from the raw similarity against the threshold
(which sits where the probability is not 0.5 and so could contradict it): `similar` only above 0.5, `different`
only below. The band [low, high] around 0.5 is chosen on the model's validation pairs (fit_band) as the widest
coverage whose selective accuracy, the accuracy of the pairs given a verdict, reaches TARGET_ACCURACY; a model too
weak to reach it anywhere decides nothing. It is stored in the weights file's metadata under "verdict".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIMILAR, DIFFERENT, INCONCLUSIVE, NOT_ASSESSED = "similar", "different", "inconclusive", "not assessed"
VERDICTS = (SIMILAR, DIFFERENT, INCONCLUSIVE, NOT_ASSESSED)
DECIDED = (SIMILAR, DIFFERENT)

# Accuracy the decided validation pairs must reach (the clinical review asked for 0.92 on new pairs; docs/trust.md
# has what each shipped model reaches on its test split with it).
TARGET_ACCURACY = 0.92
# Verdict words in neutral ink: red read as an alarm (or as "malignant") and green as reassurance, neither of which
# a likeness of appearance is. A decided verdict is dark ink, an inconclusive or unassessed one grey.
DECIDED_INK, UNDECIDED_INK = (35, 45, 60), (105, 105, 105)
COLOURS = {SIMILAR: DECIDED_INK, DIFFERENT: DECIDED_INK, INCONCLUSIVE: UNDECIDED_INK, NOT_ASSESSED: UNDECIDED_INK}
# How many decimals a probability may take so that its printed value compares with a band edge as it really does.
MAX_DECIMALS = 4
# What a verdict means and does not, beside it on every screen and report.
MEANING = "Alike or unlike in appearance to this model, as learned from known cases: not a diagnosis."
MIN_DECIDED = 30  # fewer decided validation pairs than this give an accuracy too noisy to choose a band by
GRID = np.round(np.arange(0.0, 1.0001, 0.01), 2)  # candidate band edges: a band is quoted in whole percent


@dataclass(frozen=True)
class Verdict:
    label: str  # one of VERDICTS
    reason: str  # one line, for the panel, the report and the JSON

    @property
    def decided(self) -> bool:
        return self.label in DECIDED


def withholds(verdict: str | None, in_domain) -> bool:
    """Whether a pair's similarity, probability, maps and automatic crop are withheld from every picture of it
    (window, report page): not assessed because an image lies outside the model's domain, where what the model
    says is an extrapolation. A model merely without a calibrated band still shows its raw score on images it
    knows. Machine-readable outputs keep the numbers, flagged."""
    return verdict == NOT_ASSESSED and in_domain is not None and not all(in_domain)


# What a report page says instead of the withheld numbers and maps, or that the reviewer chose to see them.
WITHHELD_LINE = "Similarity, probability and maps withheld: an image lies outside the model's domain (an extrapolation)"
SHOWN_ANYWAY_LINE = ("Not assessed, but the reviewer chose to show the similarity and maps anyway: they are an "
                     "extrapolation outside the model's domain")


def band_of(metadata: dict | None) -> tuple[float, float] | None:
    """The model's inconclusive band (low, high) from its metadata; None when it has none or a malformed one."""
    fitted = (metadata or {}).get("verdict")
    if fitted is None:
        return None
    try:
        low, high = (float(v) for v in fitted["band"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0.0 <= low <= 0.5 <= high <= 1.0:
        return None
    return low, high


def judge(probability: float | None, band: tuple[float, float] | None, in_domain=None,
          same_content: bool = False, unchecked: str = "") -> Verdict:
    """The verdict on one pair. `in_domain`: per image True/False, or None when the model cannot tell, and then
    `unchecked` says why (core.trust.checks.domain_check): every verdict, decided or not, ends by saying so."""
    judged = _judge(probability, band, in_domain, same_content)
    if in_domain is None:
        return Verdict(judged.label, f"{judged.reason}; {domain_unchecked_text(unchecked)}")
    return judged


def domain_unchecked_text(why: str = "") -> str:
    """What a verdict (and a report's Domain line) says when the out-of-domain check could not run."""
    return f"domain not checked: {why or 'this model cannot check its domain'}"


def _judge(probability: float | None, band: tuple[float, float] | None, in_domain, same_content: bool) -> Verdict:
    if in_domain is not None and not all(in_domain):
        return Verdict(NOT_ASSESSED, domain_warning(in_domain))
    if probability is None or band is None:
        return Verdict(NOT_ASSESSED, "this model has no calibrated verdict band: run `main.py calibrate` on it")
    low, high = band
    p = float(probability)
    where = f"P(same class) {shown_probability(p, band)}"
    band_text = f"this model's inconclusive band {100 * low:.0f}-{100 * high:.0f} %"
    if p > high:
        return Verdict(SIMILAR, "same image content" if same_content else f"{where} is above {band_text}")
    if p < low:
        return Verdict(DIFFERENT, f"{where} is below {band_text}")
    if low == 0.0 and high == 1.0:
        return Verdict(INCONCLUSIVE, f"{where}: this model is not accurate enough to decide any pair")
    return Verdict(INCONCLUSIVE, f"{where} lies in {band_text}, where it is too often wrong to decide")


def labels(probabilities, band: tuple[float, float]) -> np.ndarray:
    """Vectorised judge for in-domain pairs: 1 similar, 0 different, -1 inconclusive."""
    p = np.asarray(probabilities, dtype=np.float64)
    low, high = band
    return np.where(p > high, 1, np.where(p < low, 0, -1))


def selective(probabilities, same, band: tuple[float, float]) -> dict:
    """Accuracy of the decided pairs and the share decided (coverage). Accuracy is None when nothing is decided."""
    decided = labels(probabilities, band)
    mask = decided >= 0
    same = np.asarray(same).astype(int)
    accuracy = float((decided[mask] == same[mask]).mean()) if mask.any() else None
    return {"band": [float(band[0]), float(band[1])], "accuracy": None if accuracy is None else round(accuracy, 4),
            "coverage": round(float(mask.mean()) if len(mask) else 0.0, 4), "decided": int(mask.sum()),
            "pairs": int(len(mask))}


def fit_band(probabilities, same, target: float = TARGET_ACCURACY) -> dict:
    """The band of widest coverage whose decided pairs reach `target` accuracy (ties: the narrower band, then the
    one nearer symmetric about 0.5); [0, 1] (nothing decided) when no band does. Searched over GRID x GRID
    with prefix counts: each (low, high) is a count of pairs below low and above high."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(same).astype(int)
    lows, highs = GRID[GRID <= 0.5], GRID[GRID >= 0.5]
    below = p[None, :] < lows[:, None]  # (L, N)
    above = p[None, :] > highs[:, None]  # (H, N)
    n_below, right_below = below.sum(1), (below & (y == 0)).sum(1)
    n_above, right_above = above.sum(1), (above & (y == 1)).sum(1)
    decided = n_below[:, None] + n_above[None, :]
    right = right_below[:, None] + right_above[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(decided > 0, right / np.maximum(decided, 1), 0.0)
    ok = (decided >= MIN_DECIDED) & (accuracy >= target)
    if ok.any():
        width = highs[None, :] - lows[:, None]
        skew = np.abs((highs[None, :] - 0.5) - (0.5 - lows[:, None]))
        order = np.lexsort((skew[ok], width[ok], -decided[ok]))  # last key first: most decided wins
        i, j = (index[order[0]] for index in np.nonzero(ok))
        band = (float(lows[i]), float(highs[j]))
    else:
        band = (0.0, 1.0)
    result = selective(p, y, band)
    return {"band": result["band"], "target_accuracy": target, "selective_accuracy": result["accuracy"],
            "coverage": result["coverage"], "fitted_on": f"validation split, {len(p)} pairs"}


def risk_coverage(probabilities, same, steps: int = 51) -> dict:
    """Selective accuracy against coverage as a symmetric band around 0.5 narrows from everything to nothing:
    {"coverage": [...], "accuracy": [...]} (points with nothing decided left out)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(same).astype(int)
    coverage, accuracy = [], []
    for half in np.linspace(0.5, 0.0, steps):  # widest band first: coverage rises along the curve
        result = selective(p, y, (0.5 - half, 0.5 + half))
        if result["accuracy"] is not None:
            coverage.append(result["coverage"])
            accuracy.append(result["accuracy"])
    return {"coverage": coverage, "accuracy": accuracy}


def domain_warning(in_domain) -> str:
    """'' when both images are inside the domain (or the model cannot tell); else which ones are not."""
    if not in_domain or all(in_domain):
        return ""
    outside = [str(i + 1) for i, inside in enumerate(in_domain) if not inside]
    which = "image " + outside[0] + " is" if len(outside) == 1 else "both images are"
    return f"{which} outside this model's domain: the score would be an extrapolation"


def percent(p: float) -> str:
    return f"{100 * float(p):.0f} %"


def beside_edge(p: float, edge: float) -> str:
    """P in percent, printed so that it compares with the band edge (printed in whole percent) as the true value
    does: "16.8 %" for 0.168 against 17 %, where "17 % is below the band 17-81 %" would read false."""
    p, edge_text = float(p), f"{100 * edge:.0f}"
    for decimals in range(MAX_DECIMALS + 1):
        shown = f"{100 * p:.{decimals}f}"
        if (float(shown) < float(edge_text)) == (p < edge) and float(shown) != float(edge_text):
            return f"{shown} %"
    return f"{'just under' if p < edge else 'just over'} {edge_text} %"


def shown_probability(p: float, band: tuple[float, float] | None) -> str:
    """P(same class) as every screen prints it: whole percent, or as many decimals as it takes to fall outside the
    band as it truly does (beside_edge), so the number never contradicts the verdict printed beside it."""
    if band is not None and not band[0] <= float(p) <= band[1]:
        return beside_edge(p, band[0] if float(p) < band[0] else band[1])
    return percent(p)
