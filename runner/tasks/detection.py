"""Object detection (`model.task=detection`): COCO mAP@0.5:0.95, mAP@0.5 beside it.

A detector's raw output is decoded here, in the tool, in the two common layouts, told apart
by shape: YOLOv5-style `[N, 5 + C]` rows (cx, cy, w, h, objectness, C class scores; score =
objectness x class score) and YOLOv8-style `[4 + C, N]` columns (cx, cy, w, h, C class scores),
boxes in input pixels. Every (box, class) pair scoring at least SCORE_MIN is kept, then greedy
non-maximum suppression per class (IoU above NMS_IOU) and the MAX_DETECTIONS best per image:
the usual settings for measuring mAP (low score threshold, COCO's 100 detections per image).

pycocotools matches detections to ground truth per image and class (crowd regions ignored);
that matching is the evidence a model leaves. mAP is then COCO's accumulation over the whole
validation set (101-point interpolated precision, averaged over IoU 0.50:0.05:0.95 and over
the classes that have ground truth), computed here from the evidence so that a paired
bootstrap over images (the same resampled images for baseline and candidate) gives the
interval of the mAP difference. Ground truth `y` is one float array per image of rows
(class index, x, y, w, h, iscrowd) in the model's input pixels.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from runner.core.registry import register

SCORE_MIN = 0.001  # detections below this score are dropped before NMS
NMS_IOU = 0.6  # same-class boxes overlapping a better one by more than this are suppressed
MAX_DETECTIONS = 100  # per image, best first (COCO's limit)
MAX_CANDIDATES = 30_000  # (box, class) pairs entering NMS, best first
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
BOOTSTRAP = 1000  # resamples of the validation images for the interval
# Evidence table columns: kind (0 detection, 1 ground-truth count), image, class, score (or
# the count of non-crowd ground-truth boxes), then per IoU threshold 1 match / 0 miss / -1
# ignored (matched to a crowd region).
KIND, IMAGE, CLASS, SCORE, MATCH = 0, 1, 2, 3, 4


def rows_of(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One image's raw output as (boxes cx, cy, w, h [N, 4], class scores [N, C])."""
    a = np.asarray(raw, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2 or min(a.shape) < 5:
        raise ValueError(
            f"a detector output of shape {list(np.shape(raw))} is neither YOLOv5's [N, 5 + C] "
            "nor YOLOv8's [4 + C, N]; export the raw head output (before NMS)"
        )
    if a.shape[0] < a.shape[1]:  # YOLOv8: [4 + C, N], fewer channels than anchors
        a = a.T
        return a[:, :4], a[:, 4:]
    return a[:, :4], a[:, 5:] * a[:, 4:5]  # YOLOv5: objectness x class score


def layout_of(shape: tuple[int, ...]) -> tuple[str, int]:
    """('yolov5' | 'yolov8', classes) that an output of one image's `shape` is read as."""
    a, b = shape[-2], shape[-1]
    return ("yolov8", a - 4) if a < b else ("yolov5", b - 5)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, keep_max: int) -> np.ndarray:
    """Greedy NMS over xyxy boxes, best first; indices of at most `keep_max` kept boxes."""
    order, keep = np.argsort(-scores, kind="stable"), []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size and len(keep) < keep_max:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])
        h = np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])
        inter = np.clip(w, 0, None) * np.clip(h, 0, None)
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode(raw: np.ndarray) -> np.ndarray:
    """One image's detections after NMS: rows (x, y, w, h, score, class), best first."""
    boxes, scores = rows_of(raw)
    idx, cls = np.nonzero(scores >= SCORE_MIN)
    conf = scores[idx, cls]
    if conf.size > MAX_CANDIDATES:
        top = np.argsort(-conf, kind="stable")[:MAX_CANDIDATES]
        idx, cls, conf = idx[top], cls[top], conf[top]
    cx, cy, w, h = (boxes[idx, j].astype(np.float64) for j in range(4))
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    shift = (np.abs(xyxy).max(initial=0.0) + 1.0) * 2.0 * cls[:, None]  # classes never overlap
    kept = nms(xyxy + shift, conf.astype(np.float64), NMS_IOU, MAX_DETECTIONS)
    x0, y0 = xyxy[kept, 0], xyxy[kept, 1]
    return np.stack([x0, y0, w[kept], h[kept], conf[kept], cls[kept]], axis=1)


def _coco(truth: list[np.ndarray], dets: list[np.ndarray], classes: int) -> Any:
    """pycocotools' per-image, per-class matching (area 'all', 100 detections) of one model."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    anns = []
    for i, t in enumerate(truth):
        for r in t:
            box = [float(v) for v in r[1:5]]
            anns.append(
                {"id": len(anns) + 1, "image_id": i + 1, "category_id": int(r[0]) + 1,
                 "bbox": box, "area": box[2] * box[3], "iscrowd": int(r[5])}
            )  # fmt: skip
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i + 1} for i in range(len(truth))],
        "annotations": anns,
        "categories": [{"id": c + 1} for c in range(classes)],
    }
    found = [np.column_stack([np.full(len(d), i + 1), d]) for i, d in enumerate(dets) if len(d)]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt.createIndex()
        if not found:
            return None
        table = np.concatenate(found)  # image_id, x, y, w, h, score, class
        table[:, 6] += 1
        ev = COCOeval(gt, gt.loadRes(table), "bbox")
        ev.params.areaRng, ev.params.areaRngLbl, ev.params.maxDets = [[0, 1e10]], ["all"], [100]
        ev.params.iouThrs = IOU_THRESHOLDS
        ev.evaluate()
    return ev


def evidence(truth: list[np.ndarray], dets: list[np.ndarray]) -> np.ndarray:
    """The evidence table of one model: its matched detections and the ground-truth counts."""
    classes = 1 + int(max([t[:, 0].max() for t in truth if len(t)] + [-1]))
    classes = max(classes, 1 + int(max([d[:, 5].max() for d in dets if len(d)] + [-1])))
    rows = []
    for i, t in enumerate(truth):  # non-crowd ground truth per (image, class)
        for c in np.unique(t[:, 0]).astype(int) if len(t) else []:
            n = int(((t[:, 0] == c) & (t[:, 5] == 0)).sum())
            rows.append([1, i, c, n, *([0] * len(IOU_THRESHOLDS))])
    ev = _coco(truth, dets, classes)
    for e in ev.evalImgs if ev is not None else []:
        if e is None or not len(e["dtIds"]):
            continue
        match = np.where(e["dtIgnore"], -1, (e["dtMatches"] > 0).astype(int))
        for d, score in enumerate(e["dtScores"]):
            rows.append([0, e["image_id"] - 1, e["category_id"] - 1, score, *match[:, d]])
    table = np.asarray(rows, dtype=np.float64).reshape(-1, MATCH + len(IOU_THRESHOLDS))
    dets_first = np.lexsort((table[:, IMAGE], -table[:, SCORE], table[:, CLASS], table[:, KIND]))
    return table[dets_first]  # detections by (class, score down, image), then the counts


def average_precision(table: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """COCO AP per IoU threshold from an evidence table; `weights`: times each image counts
    (a bootstrap resample). NaN where no class has ground truth."""
    n_img = int(table[:, IMAGE].max()) + 1 if len(table) else 1
    w = np.ones(n_img) if weights is None else np.asarray(weights, dtype=np.float64)
    gt, det = table[table[:, KIND] == 1], table[table[:, KIND] == 0]
    k = int(table[:, CLASS].max()) + 1 if len(table) else 1
    npig = np.bincount(gt[:, CLASS].astype(int), w[gt[:, IMAGE].astype(int)] * gt[:, SCORE], k)
    wd = w[det[:, IMAGE].astype(int)]
    det, wd = det[wd > 0], wd[wd > 0]
    cls = det[:, CLASS].astype(int)
    start = np.searchsorted(cls, np.arange(k), "left")
    end = np.searchsorted(cls, np.arange(k), "right")
    valid = npig > 0
    if not valid.any():
        return np.full(len(IOU_THRESHOLDS), np.nan)
    out = []
    for t in range(len(IOU_THRESHOLDS)):
        m = det[:, MATCH + t]
        tp, fp = np.cumsum(wd * (m == 1)), np.cumsum(wd * (m == 0))
        before = np.concatenate([[0.0], tp])[start], np.concatenate([[0.0], fp])[start]
        tp, fp = tp - before[0][cls], fp - before[1][cls]
        rc = tp / np.where(valid, npig, 1.0)[cls]
        pr = tp / (tp + fp + np.spacing(1))
        lift = 2.0 * (k - cls)  # each class above the next: a reverse running max per class
        env = np.maximum.accumulate((pr + lift)[::-1])[::-1] - lift
        q = (RECALL_POINTS[None, :] + 2.0 * np.arange(k)[:, None]).ravel()
        at = np.searchsorted(rc + 2.0 * cls, q, "left").reshape(k, -1)
        inside = at < end[:, None]
        prec = np.where(inside, env[np.minimum(at, len(env) - 1)] if len(env) else 0.0, 0.0)
        out.append(prec[valid].mean())
    return np.asarray(out)


def summary(table: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """(mAP@0.5:0.95, mAP@0.5) of one model's evidence."""
    ap = average_precision(table, weights)
    return float(np.mean(ap)), float(ap[0])


def paired_bootstrap(
    base: np.ndarray, cand: np.ndarray, n_images: int, seed: int = 0, reps: int = BOOTSTRAP
) -> tuple[tuple[float, float], tuple[float, float]]:
    """95 % percentile intervals of candidate - baseline (mAP, mAP@0.5), the same images
    resampled for both models."""
    rng = np.random.default_rng(seed)
    diffs = np.empty((reps, 2))
    for r in range(reps):
        w = np.bincount(rng.integers(0, n_images, n_images), minlength=n_images)
        diffs[r] = np.subtract(summary(cand, w), summary(base, w))
    diffs = diffs[np.isfinite(diffs).all(axis=1)]
    if not len(diffs):
        return (0.0, 0.0), (0.0, 0.0)
    lo, hi = np.percentile(diffs, [2.5, 97.5], axis=0)
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _images(y: Any) -> list[np.ndarray]:
    """Ground truth as one [k, 6] float array per image."""
    return [np.asarray(t, dtype=np.float64).reshape(-1, 6) for t in y]


@register("task", "detection")
class Detection:
    """mAP@0.5:0.95 (COCO), mAP@0.5 beside it; the interval by a paired bootstrap over images."""

    name, higher_is_better = "mAP", True

    @staticmethod
    def outcomes(outputs: np.ndarray, y: Any, reference: Any = None) -> np.ndarray:
        if y is None:
            raise ValueError("detection needs ground-truth boxes: use dataset=coco")
        truth = _images(y)
        if len(outputs) != len(truth):
            raise ValueError(f"{len(outputs)} detector outputs for {len(truth)} images")
        return evidence(truth, [decode(o) for o in outputs])

    @staticmethod
    def value(table: np.ndarray) -> float:
        return summary(table)[0]

    @staticmethod
    def compare(base: np.ndarray, cand: np.ndarray, y: Any = None, outputs: Any = None) -> dict:
        n = len(y) if y is not None else int(max(base[:, IMAGE].max(), cand[:, IMAGE].max())) + 1
        (value, v50), (baseline, b50) = summary(cand), summary(base)
        ci, ci50 = paired_bootstrap(base, cand, n)
        delta = value - baseline
        return {
            "name": Detection.name,
            "higher_is_better": True,
            "value": value,
            "baseline": baseline,
            "delta_abs": delta,
            "delta_rel": delta / abs(baseline) if baseline else None,
            "ci95": list(ci),
            "n_samples": n,
            "interval": f"paired bootstrap over images ({BOOTSTRAP} resamples)",
            "extra": {"mAP50": {"value": v50, "baseline": b50, "ci95": list(ci50)}},
        }
