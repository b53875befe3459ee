"""Registration of a follow-up dermoscopy image onto its baseline, aligned on the skin around the lesion.

Why this way: the lesion itself may have grown or changed, so it must not drive the alignment; the skin around it
(hairs, skin lines, pores) is what stays put. Both images are reduced to an illumination-normalised texture image
(grey level minus its local mean, over its local spread: a brightness or shading change cancels out), and the
lesion (dilated) and the dermoscope's dark vignette are masked out of both. OpenCV does the optimisation:

1. starting points: a coarse search at 64 px, ECC (the enhanced correlation coefficient, cv2.findTransformECC)
   on large structures (the lesion's shape included, which survives its growth well enough for a start) from a
   ring of rotations (and, for "similarity", three magnifications) with the lesion centres overlaid, keeping
   the best three (ECC alone converges only from within ~10 degrees); plus one from SIFT features of the skin
   matched across the visits and fitted with RANSAC (cv2.estimateAffinePartial2D), when enough agree;
2. each start refined by ECC on the skin texture at half, then full resolution (at most WORK_SIDE px), rigid
   (MOTION_EUCLIDEAN) or, for "similarity", affine projected onto the nearest rotation + scale + shift; the
   highest correlation wins;
3. its uncertainty, by a jackknife: the refinement is repeated leaving out each quarter of the skin around the
   lesion in turn, and the spread of where those solutions put the skin pixels is the error estimate in pixels.

The quality figure is the final masked correlation (0 unrelated, 1 identical texture). A registration is `ok`
when quality and error estimate pass QUALITY_MIN and ERROR_MAX_PX; otherwise its message says why, and callers
must not measure change on it. Numpy and OpenCV only, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from core.errors import InputError

MODES = ("rigid", "similarity")
AUTO = "auto"  # similarity when the magnification evidently differs, else rigid (register)
SCALE_SIGNIFICANT = 0.01  # |scale - 1| at or below this is read as the same magnification ...
SCALE_SIGMAS = 3.0  # ... and so is one within this many of the scale's own jackknife uncertainties
# a rigid registration asked for is refused when a similarity fit from it finds the magnification more than this
# far from 1 (2 % is 2 px at 100 px from the lesion centre): forced rigid on visits +-10 % apart accepted 18 of 60
# pairs more than 5 px off without this check, 5 when it trusted only accepted similarity fits
# (benchmarks/bench_followup.py --mode rigid --split test)
RIGID_SCALE_LIMIT = 0.02
# see _result: feature and final fit this close (px) on the skin, with at least this many feature matches, are
# accepted whatever the jackknife says. On 80 validation pairs (seed 1) the distance tracked the true error
# (1-3.5 px where both were known); 3 px and 20 matches accepted 4 more pairs (68 -> 72), all within 2.5 px,
# and none of 40 impostor pairs
AGREEMENT_PX = 3.0
AGREEMENT_INLIERS = 20
# masked correlation below this: the skin textures do not match (another lesion, a blur). On 80 validation pairs
# (seed 1) the one registration accepted more than 5 px off had 0.60, every other accepted one 0.74 or more, the
# 40 impostor pairs at most 0.33 (formerly 0.25)
QUALITY_MIN = 0.65
# jackknife error above this: the skin does not pin the transform down. Chosen on 80 realistic synthetic pairs of
# the skin model's validation images (benchmarks/bench_followup.py --split val): the smallest limit that accepts as
# many as any limit up to 8 px while no accepted pair is more than 5 px off (6 px: 90 % accepted, worst 4.5 px;
# the jackknife overstates the error about twice on the 224 px pictures)
ERROR_MAX_PX = 6.0
# The smallest uncertainty a registration states: the jackknife measures only how much the skin's quarters disagree,
# and on two exact resamplings of one picture (a visit zoomed and shifted in an image editor) they agree to 1e-5,
# which read "magnification x0.962 +- 0.000" and "error about 0.0 px": a claim of perfection the method does not
# have (the tilt, the skin pushed aside by growth and the interpolation are outside it). Each floor is the median
# true error of the validation pairs whose stated uncertainty was in the lowest quarter (bench_followup.py --split
# val --kind growth --pairs 120, seed 0: 27 accepted pairs with an error estimate under 0.70 px, true error median
# 0.50 px; 22 similarity fits with a scale uncertainty under 0.0024, true scale error median 0.0015)
ERROR_FLOOR_PX = 0.5
SCALE_ERROR_FLOOR = 0.0015
COARSE_SIDE = 64  # px, longest side of the coarse search
COARSE_ANGLES = np.arange(-180, 180, 20)  # degrees: a follow-up may be taken with the dermoscope turned any way
COARSE_KEEP = 3  # coarse starts refined at full resolution
COARSE_SCALES = (0.9, 1.0, 1.1)  # "similarity" only: magnifications tried in the coarse search (visits +-10 %)
FEATURE_TRUST = 0.6  # a feature start refined to this correlation needs no coarse search (the slow part)
# of the lesion radius: excluded around it, the widest that leaves SKIN_WANTED (the narrowest, 0.15, and
# MIN_SKIN_SHARE 0.04 let lesions that fill most of the picture register: 53 -> 54 of 60 validation pairs, none
# accepted more than 5 px off; formerly 0.33 and 0.08)
LESION_MARGINS = (1.0, 0.66, 0.33, 0.15)
SKIN_WANTED = 0.25  # of the image
MIN_OVERLAP = 0.3  # of the smaller of the two skin areas (on the baseline's grid) that both must share
MIN_SKIN_SHARE = 0.04  # of the image: less skin than this cannot pin a transform down
WORK_SIDE = 512  # px: larger images are registered on copies this long (skin texture needs no more)
TEXTURE_SIGMA = 8.0  # px at full resolution: the local mean and spread the texture image removes
COARSE_SIGMA = 24.0  # px: the coarse search compares larger structures (the lesion's shape included)


@dataclass(frozen=True)
class Registration:
    """matrix: 2x3 float64 mapping follow-up pixel (x, y) to baseline pixel; quality in [0, 1]; error_px: the
    estimated alignment error on the skin (pixels); ok: safe to compare the aligned images."""

    matrix: np.ndarray
    quality: float
    error_px: float
    ok: bool
    message: str
    mode: str
    rotation_deg: float
    scale: float
    shift: tuple[float, float]
    scale_error: float = 0.0  # jackknife uncertainty of the scale (0 for rigid)
    chosen_by: str = "given"  # "auto": the mode was chosen by register's evidence rule; "given": asked for
    feature_agreement_px: float = float("inf")  # feature fit vs final fit on the skin (inf: no feature fit)
    feature_inliers: int = 0  # matches the feature fit's RANSAC kept

    def facts(self) -> dict:
        return {"transform": [[round(float(v), 6) for v in row] for row in self.matrix], "mode": self.mode,
                "registration_quality": round(self.quality, 4), "registration_error_px": _finite(self.error_px, 3),
                "registration_ok": self.ok, "registration_message": self.message, "mode_chosen_by": self.chosen_by,
                "feature_agreement_px": _finite(self.feature_agreement_px, 3), "feature_inliers": self.feature_inliers,
                "rotation_deg": round(self.rotation_deg, 3), "scale": round(self.scale, 5),
                "scale_error": _finite(self.scale_error, 5), "shift_px": [round(v, 3) for v in self.shift]}


def _finite(value: float, digits: int):
    """A number for JSON: rounded, None when unknown (infinite)."""
    return round(float(value), digits) if np.isfinite(value) else None


def register(baseline: np.ndarray, followup: np.ndarray, mode: str = "auto", masks=None) -> Registration:
    """Register `followup` (uint8 RGB) onto `baseline`; masks: (baseline lesion, follow-up lesion) bool arrays,
    each None to use the lesion finder (core.model.lesion). mode "auto": similarity, kept only when its
    magnification differs from 1 by more than the evidence allows (SCALE_SIGNIFICANT, SCALE_SIGMAS), else the
    rigid refinement of it (fewer free parameters, steadier); "rigid" or "similarity" force one."""
    if mode not in (*MODES, AUTO):
        raise InputError(f"registration mode must be one of {', '.join((AUTO, *MODES))}, got {mode!r}")
    if mode == "similarity":
        return _register(baseline, followup, mode, masks)
    if mode == "rigid":  # asked for: refused when the skin shows another magnification, which rigid cannot align
        rigid = _register(baseline, followup, mode, masks)
        if not rigid.ok:
            return rigid
        free = _register(baseline, followup, "similarity", masks, start=cv2.invertAffineTransform(rigid.matrix))
        if free.quality > 0 and abs(free.scale - 1.0) > RIGID_SCALE_LIMIT:  # a fit, even one not accepted
            return _failed(mode, f"registration failed: the magnification differs (x{free.scale:.3f}), which a "
                                 "rigid registration cannot align: use auto or similarity", rigid.matrix,
                           rigid.quality, rigid.error_px, 0.0)
        return rigid
    free = _register(baseline, followup, "similarity", masks)
    if not free.ok or magnification_differs(free):
        return _chosen(free, f"magnification x{free.scale:.3f} +- {free.scale_error:.3f}")
    start = np.asarray(cv2.invertAffineTransform(free.matrix), np.float64)  # baseline -> follow-up
    start[:, :2] /= np.hypot(start[0, 0], start[1, 0])  # its rotation, at scale 1
    rigid = _register(baseline, followup, "rigid", masks, start=start)
    return _chosen(rigid, "same magnification") if rigid.ok else _chosen(free, "the rigid fit failed")


def _chosen(registration: Registration, why: str) -> Registration:
    message = registration.message
    if registration.ok:
        message = message.replace(f"({registration.mode})", f"({registration.mode}, chosen automatically: {why})", 1)
    return replace(registration, chosen_by=AUTO, message=message)


def magnification_differs(registration: Registration) -> bool:
    """Whether a similarity registration's scale is evidence of another magnification (not its own noise)."""
    off = abs(registration.scale - 1.0)
    return off > SCALE_SIGNIFICANT and off > SCALE_SIGMAS * registration.scale_error


def _register(baseline, followup, mode, masks, start=None) -> Registration:
    """One mode; `start` (warp baseline -> follow-up, full resolution): refine it instead of searching."""
    lesions = list(masks) if masks is not None else [None, None]
    expected = max(baseline.shape[:2]) / max(followup.shape[:2])  # the scale two pictures of one field would have
    factors = [min(1.0, WORK_SIDE / max(image.shape[:2])) for image in (baseline, followup)]
    if min(factors) < 1.0:  # each registered on a copy at most WORK_SIDE long; the result is scaled back below
        small_b, small_f = _resized(baseline, factors[0]), _resized(followup, factors[1])
        to_small = [np.diag([small.shape[1] / image.shape[1], small.shape[0] / image.shape[0], 1.0])
                    for small, image in ((small_b, baseline), (small_f, followup))]
        small_masks = None if masks is None else [
            None if m is None else cv2.resize(np.asarray(m, np.uint8), small.shape[1::-1],
                                              interpolation=cv2.INTER_NEAREST) > 0
            for m, small in zip(lesions, (small_b, small_f), strict=True)]
        small_start = None if start is None else (to_small[1] @ np.vstack([start, [0, 0, 1]])
                                                  @ np.linalg.inv(to_small[0]))[:2]
        small = _register(small_b, small_f, mode, small_masks, small_start)
        matrix = (np.linalg.inv(to_small[0]) @ np.vstack([small.matrix, [0, 0, 1]]) @ to_small[1])[:2]
        # judged at the working size (its error limit is in working pixels), reported in the baseline's pixels
        return _result(matrix, small.quality, small.error_px / to_small[0][0, 0], small.scale_error, mode,
                       None if small.ok else small.message, expected,
                       (small.feature_agreement_px / to_small[0][0, 0], small.feature_inliers))
    views = [_view(image, lesion) for image, lesion in zip((baseline, followup), lesions, strict=True)]
    (tex_b, skin_b, centre_b, radius_b, shape_b, field_b), (tex_f, skin_f, centre_f, _, shape_f, field_f) = views
    for name, skin in (("baseline", skin_b), ("follow-up", skin_f)):
        if skin.mean() < MIN_SKIN_SHARE:
            return _failed(mode, f"registration failed: too little skin around the lesion in the {name} image")
    feature, inliers = None, 0  # the feature fit, an independent second opinion on the alignment
    if start is not None:
        starts = [start]
    else:
        from core.followup.feature_start import matched_start

        starts, inliers = matched_start(baseline, followup, skin_b, skin_f, mode)
        feature = starts[0] if starts else None
    quality, warp = _refine(tex_b, tex_f, skin_b, skin_f, starts, mode)
    if start is None and quality < FEATURE_TRUST:  # no feature start, or a doubtful one: search coarsely too
        coarse = _coarse(shape_b, shape_f, field_b, field_f, centre_b, centre_f, mode, expected)
        score, refined = _refine(tex_b, tex_f, skin_b, skin_f, coarse, mode)
        if score > quality:
            quality, warp = score, refined
    if warp is None:
        return _failed(mode, "registration failed: no alignment of the skin around the lesion was found")
    matrix = cv2.invertAffineTransform(warp)  # ECC's warp maps baseline -> follow-up
    error, scale_error = _jackknife(tex_b, tex_f, skin_b, skin_f, warp, mode, centre_b, radius_b)
    agreement = np.inf if feature is None else _disagreement(feature, warp, skin_b, centre_b, radius_b)
    return _result(matrix, max(0.0, float(quality)), error, scale_error, mode, expected=expected,
                   agreement=(agreement, inliers))


def warp_to_baseline(followup: np.ndarray, registration: Registration, size: tuple[int, int],
                     interpolation: int = cv2.INTER_LINEAR, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """The follow-up image (or mask, as uint8) resampled onto the baseline's pixel grid (size = (width, height));
    what lies outside the follow-up is black (0), or the follow-up mirrored at its edge with BORDER_REFLECT_101."""
    return cv2.warpAffine(followup, registration.matrix, size, flags=interpolation, borderMode=border, borderValue=0)


def texture(rgb: np.ndarray, sigma: float = TEXTURE_SIGMA, valid: np.ndarray | None = None) -> np.ndarray:
    """Illumination-normalised texture (float32): grey minus its local mean, divided by its local spread; the local
    statistics only over `valid` pixels (normalised convolution), so a black corner or border leaves no edge."""
    grey: np.ndarray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.0)
    weight = np.ones_like(grey) if valid is None else valid.astype(np.float32)
    support = cv2.GaussianBlur(weight, (0, 0), sigma) + 1e-3
    mean = cv2.GaussianBlur(grey * weight, (0, 0), sigma) / support
    detail = (grey - mean) * weight
    spread = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), sigma) / support) + 2.0
    return detail / spread


def _view(rgb: np.ndarray, lesion: np.ndarray | None):
    from core.model.lesion import find_lesion, vignette_mask

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("registration needs uint8 RGB images")
    if lesion is None:
        found = find_lesion(rgb)
        lesion = found.mask if found.found else np.zeros(rgb.shape[:2], bool)
    lesion = np.asarray(lesion, bool)
    if lesion.shape != rgb.shape[:2]:
        raise ValueError(f"lesion mask {lesion.shape} does not match the image {rgb.shape[:2]}")
    h, w = lesion.shape
    if lesion.any():
        ys, xs = np.nonzero(lesion)
        centre = (float(xs.mean()), float(ys.mean()))
        radius = float(np.sqrt(lesion.sum() / np.pi))
    else:
        centre, radius = (w / 2.0, h / 2.0), 0.0
    # the lesion and a margin around it (its edge moves as it grows, and the skin next to it may be pushed aside):
    # the widest of LESION_MARGINS (in lesion radii) that leaves SKIN_WANTED of the image, the vignette, the border
    dark = cv2.dilate(vignette_mask(rgb).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    dark[:4], dark[-4:], dark[:, :4], dark[:, -4:] = True, True, True, True
    for share in LESION_MARGINS:
        margin = int(round(4 + radius * share))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        skin = ~cv2.dilate(lesion.astype(np.uint8), kernel).astype(bool) & ~dark
        if skin.mean() >= SKIN_WANTED:
            break
    seen = ~cv2.dilate(vignette_mask(rgb).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return texture(rgb, valid=seen), skin, centre, radius, texture(rgb, COARSE_SIGMA, seen), ~dark


def _similarity(angle_deg: float, scale: float, centre_b, centre_f) -> np.ndarray:
    """Warp baseline -> follow-up: rotate/scale about the baseline lesion centre, then move it onto the follow-up's."""
    warp = cv2.getRotationMatrix2D(centre_b, -angle_deg, scale)
    warp[:, 2] += np.subtract(centre_f, centre_b)
    return warp


def _refine(tex_b, tex_f, skin_b, skin_f, starts, mode):
    """(correlation, warp) of the best of `starts` refined by ECC at half, then full resolution; (-inf, None)."""
    quality, warp = -np.inf, None
    for begin in starts:
        mid = _ecc(*_halved(tex_b, tex_f, skin_b, skin_f), _scaled(begin, 0.5), mode, iterations=40)[1]
        score, refined = _ecc(tex_b, tex_f, skin_b, skin_f, _scaled(mid if mid is not None else begin, 2.0), mode)
        if refined is not None and score > quality:
            quality, warp = score, refined
    return quality, warp


def _coarse(tex_b, tex_f, skin_b, skin_f, centre_b, centre_f, mode, expected=1.0):
    """The COARSE_KEEP best start warps (full resolution) from a ring of starts at COARSE_SIDE px."""
    factor = COARSE_SIDE / max(tex_b.shape)
    small = [cv2.resize(t, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA) for t in (tex_b, tex_f)]
    masks = [cv2.resize(m.astype(np.uint8), small[0].shape[::-1], interpolation=cv2.INTER_NEAREST)
             for m in (skin_b, skin_f)]
    scales = [s / expected for s in COARSE_SCALES] if mode == "similarity" else [1.0]
    scaled_b, scaled_f = np.multiply(centre_b, factor), np.multiply(centre_f, factor)
    found = []
    for scale in scales:
        for angle in COARSE_ANGLES:
            start = _similarity(float(angle), scale, tuple(scaled_b), tuple(scaled_f))
            score, warp = _ecc(small[0], small[1], masks[0], masks[1], start, "similarity" if scale != 1.0 else mode,
                               iterations=30, blur=3)
            if warp is not None:
                found.append((score, _scaled(warp, 1.0 / factor)))
    found.sort(key=lambda item: -item[0])
    return [warp for _, warp in found[:COARSE_KEEP]]


def _scaled(warp: np.ndarray, factor: float) -> np.ndarray:
    """A warp between images resized by `factor` (both alike)."""
    out = warp.copy()
    out[:, 2] *= factor
    return out


def _halved(tex_b, tex_f, skin_b, skin_f) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    size = (tex_b.shape[1] // 2, tex_b.shape[0] // 2), (tex_f.shape[1] // 2, tex_f.shape[0] // 2)
    return (cv2.resize(tex_b, size[0], interpolation=cv2.INTER_AREA),
            cv2.resize(tex_f, size[1], interpolation=cv2.INTER_AREA),
            cv2.resize(skin_b.astype(np.uint8), size[0], interpolation=cv2.INTER_NEAREST).astype(bool),
            cv2.resize(skin_f.astype(np.uint8), size[1], interpolation=cv2.INTER_NEAREST).astype(bool))


def _ecc(tex_b, tex_f, skin_b, skin_f, start, mode, iterations=60, blur=5):
    """(correlation, warp baseline -> follow-up) refined from `start`; (-inf, None) when ECC does not converge."""
    motion = cv2.MOTION_EUCLIDEAN if mode == "rigid" else cv2.MOTION_AFFINE
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
    mask_b, mask_f = skin_b.astype(np.uint8), skin_f.astype(np.uint8)
    # OpenCV's Euclidean ECC reads its angle back with asin, so it cannot hold a rotation beyond +-90 degrees:
    # the follow-up is first turned by whole quarter turns (exact) to leave ECC a rotation within +-45 degrees
    turns, turn = _quarter_turns(start, tex_f.shape) if mode == "rigid" else (0, np.eye(3))
    turned_tex = np.ascontiguousarray(np.rot90(tex_f, turns))
    turned_mask = np.ascontiguousarray(np.rot90(mask_f, turns))
    warp = (turn @ np.vstack([start, [0, 0, 1]]))[:2].astype(np.float32)
    try:
        if hasattr(cv2, "findTransformECCWithMask"):  # OpenCV >= 4.12: the baseline's mask too
            score, warp = cv2.findTransformECCWithMask(tex_b, turned_tex, mask_b, turned_mask, warp, motion,
                                                       criteria, blur)
        else:
            score, warp = cv2.findTransformECC(tex_b * mask_b, turned_tex, warp, motion, criteria, turned_mask, blur)
    except cv2.error:
        return -np.inf, None
    warp = (np.linalg.inv(turn) @ np.vstack([warp.astype(np.float64), [0, 0, 1]]))[:2]
    if mode == "similarity":
        warp = _nearest_similarity(warp)
    h, w = mask_b.shape
    seen = cv2.warpAffine(mask_f, warp, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    if np.count_nonzero(seen & mask_b) < MIN_OVERLAP * min(np.count_nonzero(mask_b), np.count_nonzero(seen)):
        return -np.inf, None  # a correlation over a sliver of skin means nothing
    return float(score), warp


def _quarter_turns(warp: np.ndarray, shape: tuple) -> tuple[int, np.ndarray]:
    """(k, 3x3 map from follow-up pixels to those of np.rot90(follow-up, k)) with k the quarter turns that leave
    `warp` (baseline -> follow-up) rotating by at most 45 degrees."""
    angle = np.degrees(np.arctan2(warp[1, 0], warp[0, 0]))
    turns = int(np.round(angle / 90.0)) % 4
    turn, (h, w) = np.eye(3), shape[:2]
    for _ in range(turns):  # np.rot90 once: (x, y) -> (y, w - 1 - x), and the width becomes the height
        turn = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]]) @ turn
        h, w = w, h
    return turns, turn


def _nearest_similarity(warp: np.ndarray) -> np.ndarray:
    """The rotation + uniform scale + shift nearest an affine warp (its shift kept)."""
    a = 0.5 * (warp[0, 0] + warp[1, 1])
    b = 0.5 * (warp[1, 0] - warp[0, 1])
    return np.array([[a, -b, warp[0, 2]], [b, a, warp[1, 2]]])


def _disagreement(first: np.ndarray, second: np.ndarray, skin: np.ndarray, centre, radius) -> float:
    """Median distance (px) between where two warps put the skin pixels around the lesion."""
    h, w = skin.shape
    gy, gx = np.mgrid[0:h, 0:w]
    ring = skin & (np.hypot(gx - centre[0], gy - centre[1]) <= max(radius, 10.0) + 40.0)
    ys, xs = np.nonzero(ring if ring.sum() >= 50 else skin)
    points = np.stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
    return float(np.median(np.hypot(*((first - second) @ points))))


def _jackknife(tex_b, tex_f, skin_b, skin_f, warp, mode, centre, radius):
    """(error estimate in px on the skin around the lesion, scale uncertainty) from four leave-a-quarter-out fits."""
    h, w = skin_b.shape
    gy, gx = np.mgrid[0:h, 0:w]
    angle = np.arctan2(gy - centre[1], gx - centre[0])
    quarter = ((angle + np.pi) // (np.pi / 2)).astype(int) % 4
    ring = skin_b & (np.hypot(gx - centre[0], gy - centre[1]) <= max(radius, 10.0) + 40.0)
    ys, xs = np.nonzero(ring if ring.sum() >= 50 else skin_b)
    points = np.stack([xs, ys, np.ones_like(xs)]).astype(np.float64)
    solutions, scales = [], []
    for q in range(4):
        _, other = _ecc(tex_b, tex_f, skin_b & (quarter != q), skin_f, warp, mode, iterations=40)
        if other is None:  # this quarter's skin is (nearly) all there is in common: the other three still speak
            continue
        solutions.append(other @ points)
        scales.append(np.hypot(other[0, 0], other[1, 0]))
    if len(solutions) < 3:  # without one quarter the fit falls apart: the skin does not pin the transform down
        return float("inf"), float("inf")
    stack = np.stack(solutions)  # (n, 2, points)
    spread = stack - stack.mean(axis=0)
    jack = (len(solutions) - 1) / len(solutions)  # jackknife variance: (n - 1) / n times the squared deviations
    variance = jack * np.sum(spread ** 2, axis=(0, 1))
    error = float(np.median(np.sqrt(variance)))
    scale_error = float(np.sqrt(jack * np.sum((np.array(scales) - np.mean(scales)) ** 2)))
    return error, scale_error if mode == "similarity" else 0.0


def _resized(image: np.ndarray, factor: float, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return cv2.resize(image, size, interpolation=interpolation)


def _result(matrix, quality, error, scale_error, mode, failure: str | None = None,
            expected: float = 1.0, agreement: tuple[float, int] = (np.inf, 0)) -> Registration:
    """expected: the scale of two pictures of one field (their sizes' ratio): a magnification change is judged
    against it. agreement: (distance in px between the feature fit and the final one, the feature fit's inliers):
    when they agree closely on many matches, two independent methods found the same alignment, which stands
    even where the jackknife, on little skin, is too cautious."""
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    rotation = float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))
    error = max(float(error), ERROR_FLOOR_PX)  # never less than the method has shown (ERROR_FLOOR_PX); inf stays
    scale_error = max(float(scale_error), SCALE_ERROR_FLOOR) if mode == "similarity" else float(scale_error)
    if failure:
        return _failed(mode, failure, matrix, quality, error, scale_error)
    problems = []
    if quality < QUALITY_MIN:
        problems.append(f"the skin textures match poorly (quality {quality:.2f} < {QUALITY_MIN})")
    agreed = agreement[0] <= AGREEMENT_PX and agreement[1] >= AGREEMENT_INLIERS
    if (not np.isfinite(error) or error > ERROR_MAX_PX) and not agreed:
        problems.append(f"the alignment is uncertain (about {error:.1f} px > {ERROR_MAX_PX:g} px)")
    if mode == "similarity" and not 0.5 <= scale / expected <= 2.0:
        problems.append(f"implausible magnification change x{scale / expected:.2f}")
    ok = not problems
    message = (f"registered ({mode}): rotation {rotation:.1f} deg, scale {scale:.3f}, quality {quality:.2f}, "
               f"error about {error:.1f} px" if ok else "registration failed: " + "; ".join(problems))
    return Registration(matrix=matrix, quality=quality, error_px=float(error), ok=ok, message=message, mode=mode,
                        rotation_deg=rotation, scale=scale, shift=(float(matrix[0, 2]), float(matrix[1, 2])),
                        scale_error=float(scale_error), feature_agreement_px=float(agreement[0]),
                        feature_inliers=int(agreement[1]))


def _failed(mode: str, message: str, matrix=None, quality: float = 0.0, error: float = float("inf"),
            scale_error: float = float("inf")) -> Registration:
    matrix = np.eye(2, 3) if matrix is None else np.asarray(matrix, np.float64)
    return Registration(matrix=matrix, quality=float(quality), error_px=float(error), ok=False, message=message,
                        mode=mode, rotation_deg=float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0]))),
                        scale=float(np.hypot(matrix[0, 0], matrix[1, 0])),
                        shift=(float(matrix[0, 2]), float(matrix[1, 2])), scale_error=float(scale_error))
