"""A starting transform for registration (core.followup.registration) from SIFT features of the skin, matched across
the two visits and fitted with RANSAC (cv2.estimateAffinePartial2D). Features are invariant to any rotation and,
with the lesion masked out, blind to its change; where the skin has too little texture for enough matches to
agree, there is no start from here and the coarse ECC search (core.followup.registration) stands alone."""

from __future__ import annotations

import cv2
import numpy as np

MIN_MATCHES = 8  # RANSAC inliers a feature start needs


def matched_start(baseline, followup, skin_b, skin_f, mode) -> tuple[list, int]:
    """([warp baseline -> follow-up (2x3)], how many matches agree with it) from the features inside the skin
    masks, or ([], 0) when too few agree. mode "rigid": the fitted similarity's rotation and shift at scale 1."""
    grey = [cv2.createCLAHE(2.0, (8, 8)).apply(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
            for image in (baseline, followup)]
    detector = cv2.SIFT.create(nfeatures=1500, contrastThreshold=0.01)
    (kb, db), (kf, df) = (detector.detectAndCompute(g, m.astype(np.uint8))
                          for g, m in zip(grey, (skin_b, skin_f), strict=True))
    if db is None or df is None or len(kb) < MIN_MATCHES or len(kf) < MIN_MATCHES:
        return [], 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(db, df, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.85 * p[1].distance]
    if len(good) < MIN_MATCHES:
        return [], 0
    source = np.array([kb[m.queryIdx].pt for m in good], np.float32)
    target = np.array([kf[m.trainIdx].pt for m in good], np.float32)
    fitted, inliers = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC, ransacReprojThreshold=3.0)
    if fitted is None or inliers is None or int(inliers.sum()) < MIN_MATCHES:
        return [], 0
    warp = fitted.astype(np.float64)
    if mode == "rigid":  # the rotation of the fitted similarity, at scale 1
        warp[:, :2] /= np.hypot(warp[0, 0], warp[1, 0])
    return [warp], int(inliers.sum())
