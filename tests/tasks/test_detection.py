"""Detection: decoding both YOLO layouts, NMS, COCO mAP against pycocotools and by hand, the
paired bootstrap, and a sweep of a tiny ONNX detector on a COCO folder made here."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from runner.tasks import detection as D
from tests.conftest import assert_valid_record

N_ROWS, CLASSES, SIDE = 8, 2, 64
# Four images: (ground truth rows (class, x, y, w, h), detections (x, y, w, h, score px, class))
# img0: an exact hit; img1: IoU 14/16 = 0.875 (matched at 0.50..0.85, 8 of 10 thresholds);
# img2: a miss and a false positive; img3: no ground truth, one false positive.
HAND = [
    ([(0, 10, 10, 20, 20)], [(10, 10, 20, 20, 230, 0)]),
    ([(1, 30, 30, 16, 16)], [(30, 30, 16, 14, 200, 1)]),
    ([(0, 40, 4, 10, 10)], [(2, 40, 10, 10, 204, 0)]),
    ([], [(20, 40, 12, 12, 77, 1)]),
]
# Class 0: 2 ground-truth boxes, hit (0.90) then false positive (0.80): precision 1 up to
# recall 0.5, i.e. 51 of COCO's 101 recall points, at every IoU threshold. Class 1: a hit then
# a false positive: AP 1 at the 8 thresholds where IoU 0.875 matches, 0 at 0.90 and 0.95.
HAND_MAP = (51 / 101 + 8 / 10) / 2
HAND_MAP50 = (51 / 101 + 1) / 2


def code(dets, layout: str) -> np.ndarray:
    """The pixel row that the tiny detector reads its raw output from (0..255 values)."""
    k = 5 + CLASSES if layout == "yolov5" else 4 + CLASSES
    rows = np.zeros((N_ROWS, k))
    for i, (x, y, w, h, score, c) in enumerate(dets):
        rows[i, :4] = (x + w / 2, y + h / 2, w, h)
        if layout == "yolov5":
            rows[i, 4], rows[i, 5 + c] = 255, score  # objectness 1, class score
        else:
            rows[i, 4 + c] = score
    return rows.ravel()


def tiny_detector(path, layout: str):
    """An ONNX detector whose raw output is the image's first pixel row, through one Linear
    (x255 for box values, x1 for scores): known boxes, and a layer INT8 can quantize."""
    import torch

    from runner.core.onnx_utils import export_onnx

    k = 5 + CLASSES if layout == "yolov5" else 4 + CLASSES
    scale = np.ones((N_ROWS, k), np.float32)
    scale[:, :4] = 255.0
    if layout == "yolov5":
        scale[:, 4:] = 1.0

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(N_ROWS * k, N_ROWS * k)
            with torch.no_grad():
                self.lin.weight.copy_(torch.diag(torch.as_tensor(scale.ravel())))
                self.lin.bias.zero_()

        def forward(self, x):
            out = self.lin(x[:, 0, 0, : N_ROWS * k]).reshape(-1, N_ROWS, k)
            return out if layout == "yolov5" else out.transpose(1, 2)

    return export_onnx(Tiny().eval(), torch.zeros(2, 3, SIDE, SIDE), path)


def coco_folder(root, images, layout: str):
    """PNG images whose first row codes their detections, and their COCO JSON."""
    from PIL import Image

    (root / "img").mkdir(parents=True)
    meta = {"images": [], "annotations": [], "categories": [{"id": 7}, {"id": 3}]}
    ids = [3, 7]  # category ids sorted: class 0 is id 3, class 1 is id 7
    for i, (truth, dets) in enumerate(images):
        px = np.zeros((SIDE, SIDE, 3), np.uint8)
        px[0, : N_ROWS * (5 + CLASSES), 0][: len(code(dets, layout))] = code(dets, layout)
        Image.fromarray(px).save(root / "img" / f"{i}.png")
        meta["images"].append({"id": 100 + i, "file_name": f"{i}.png"})
        for c, x, y, w, h in truth:
            meta["annotations"].append(
                {"id": len(meta["annotations"]) + 1, "image_id": 100 + i,
                 "category_id": ids[c], "bbox": [x, y, w, h], "iscrowd": 0}
            )  # fmt: skip
    (root / "ann.json").write_text(json.dumps(meta))
    return root / "img", root / "ann.json"


def pycocotools_map(truth, dets) -> tuple[float, float]:
    """mAP@0.5:0.95 and mAP@0.5 by pycocotools end to end (its own accumulate/summarize)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    anns = [
        {"id": j + 1, "image_id": i + 1, "category_id": int(r[0]) + 1, "bbox": list(r[1:5]),
         "area": float(r[3] * r[4]), "iscrowd": int(r[5])}
        for i, t in enumerate(truth) for j, r in enumerate(t, start=100 * i)
    ]  # fmt: skip
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i + 1} for i in range(len(truth))],
        "annotations": anns,
        "categories": [{"id": c + 1} for c in range(4)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        rows = [np.column_stack([np.full(len(d), i + 1), d]) for i, d in enumerate(dets) if len(d)]
        arr = np.concatenate(rows)
        arr[:, 6] += 1
        ev = COCOeval(gt, gt.loadRes(arr), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


def random_set(seed: int, n: int = 30):
    """Ground truth and noisy detections of 4 classes, with crowd regions and false alarms."""
    rng = np.random.default_rng(seed)
    truth, dets = [], []
    for _ in range(n):
        k = int(rng.integers(0, 5))
        t = np.zeros((k, 6))
        t[:, 0] = rng.integers(0, 4, k)
        t[:, 1:3], t[:, 3:5] = rng.uniform(0, 80, (k, 2)), rng.uniform(5, 40, (k, 2))
        t[:, 5] = rng.random(k) < 0.15
        d = [[*(r[1:5] + rng.normal(0, 3, 4)), rng.random(), r[0]] for r in t if rng.random() < 0.8]
        d += [[*rng.uniform(0, 80, 2), *rng.uniform(5, 40, 2), rng.random(), rng.integers(0, 4)]
              for _ in range(int(rng.integers(0, 3)))]  # fmt: skip
        truth.append(t)
        dets.append(np.asarray(d, dtype=np.float64).reshape(-1, 6))
    return truth, dets


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_map_matches_pycocotools_own_accumulation(seed):
    truth, dets = random_set(seed)
    assert D.summary(D.evidence(truth, dets)) == pytest.approx(pycocotools_map(truth, dets))


def test_a_bootstrap_weight_is_the_image_repeated():
    truth, dets = random_set(4, n=12)
    w = np.array([0, 2, 1, 3, 0, 1, 1, 0, 2, 1, 1, 0])
    again = [j for j, k in enumerate(w) for _ in range(k)]
    want = pycocotools_map([truth[j] for j in again], [dets[j] for j in again])
    assert D.summary(D.evidence(truth, dets), w) == pytest.approx(want)


def test_hand_computed_map_of_four_images():
    truth = [np.array([[c, x, y, w, h, 0] for c, x, y, w, h in t]).reshape(-1, 6) for t, _ in HAND]
    dets = [np.array([[x, y, w, h, s / 255, c] for x, y, w, h, s, c in d]) for _, d in HAND]
    assert D.summary(D.evidence(truth, dets)) == pytest.approx((HAND_MAP, HAND_MAP50))


@pytest.mark.parametrize("layout", ["yolov5", "yolov8"])
def test_both_layouts_decode_to_the_coded_boxes(layout):
    raw = code(HAND[0][1] + HAND[1][1], layout).reshape(N_ROWS, -1)
    raw[:, 4:] /= 255  # scores (and YOLOv5's objectness) in [0, 1]; boxes stay in pixels
    raw = raw if layout == "yolov5" else raw.T
    assert D.layout_of(raw.shape)[0] == layout
    got = D.decode(raw)
    want = [[10, 10, 20, 20, 230 / 255, 0], [30, 30, 16, 14, 200 / 255, 1]]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_nms_suppresses_overlap_within_a_class_only():
    raw = np.zeros((8, 5 + 2))
    raw[0] = [50, 50, 20, 20, 1, 0.9, 0]  # kept
    raw[1] = [51, 50, 20, 20, 1, 0.8, 0]  # IoU 0.90 with row 0, same class: suppressed
    raw[2] = [51, 50, 20, 20, 1, 0, 0.7]  # same box, other class: kept
    raw[3] = [62, 50, 20, 20, 1, 0.6, 0]  # IoU 0.29 with row 0: kept
    got = D.decode(raw)
    np.testing.assert_allclose(got[:, 4], [0.9, 0.7, 0.6], atol=1e-6)


def test_identical_models_get_a_zero_interval_and_a_drop_a_negative_one():
    truth, dets = random_set(5, n=40)
    base = D.evidence(truth, dets)
    assert D.paired_bootstrap(base, base, 40, reps=50) == ((0.0, 0.0), (0.0, 0.0))
    shifted = [d + np.array([5, 5, 0, 0, 0, 0]) for d in dets]  # every box 5 px off
    worse = D.evidence(truth, shifted)
    (lo, hi), _ = D.paired_bootstrap(base, worse, 40, reps=200)
    drop = D.summary(worse)[0] - D.summary(base)[0]
    assert lo <= drop <= hi < 0


@pytest.mark.parametrize("layout", ["yolov5", "yolov8"])
def test_the_tiny_detector_scores_the_hand_computed_map(tmp_path, layout):
    import onnxruntime as ort

    from runner.datasets import coco
    from tests.conftest import typed

    model = tiny_detector(tmp_path / "det.onnx", layout)
    images, ann = coco_folder(tmp_path / "data", HAND, layout)
    cfg = typed("model=onnx_detector", f"dataset.path={images}", f"dataset.annotations={ann}",
                f"dataset.image_size=[{SIDE},{SIDE}]", "dataset.grayscale=false")  # fmt: skip
    x, y, classes = coco.read(cfg.dataset)
    assert classes == 2 and [len(t) for t in y] == [1, 1, 1, 0]
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": x})[0]
    task = D.Detection()
    assert D.summary(task.outcomes(out, y)) == pytest.approx((HAND_MAP, HAND_MAP50), abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["yolov5", "yolov8"])
def test_a_detection_sweep_runs_end_to_end(run_job, tmp_path, layout):
    """FP32 and INT8 rows of a COCO folder: the FP32 mAP is pycocotools' on the validation
    images (detections read from their pixels, not through the runner), INT8 is judged."""
    from runner.core.registry import get
    from tests.conftest import typed

    many = [HAND[i % 4] for i in range(20)]
    model = tiny_detector(tmp_path / "det.onnx", layout)
    images, ann = coco_folder(tmp_path / "data", many, layout)
    args = ["model=onnx_detector", f"model.path={model}", f"dataset.path={images}",
            f"dataset.annotations={ann}"]  # fmt: skip
    recs = {p: run_job(*args, f"precision={p}", job_dir=tmp_path / p) for p in ("fp32", "int8")}
    for rec in recs.values():
        assert rec["status"] == "ok", rec["reason"]
        assert_valid_record(rec)
    cfg = typed(*args, "dataset.image_size=[64,64]", "dataset.grayscale=false")
    splits = get("dataset", "coco")(cfg.dataset)
    k = 5 + CLASSES if layout == "yolov5" else 4 + CLASSES
    coded = splits.x_val[:, 0, 0, : N_ROWS * k].reshape(-1, N_ROWS, k) * 255
    dets = []
    for rows in coded:
        s = rows[:, 5:] if layout == "yolov5" else rows[:, 4:]
        keep = s.max(axis=1) > 0
        r = rows[keep]
        corner = r[:, :2] - r[:, 2:4] / 2
        score, cls = s[keep].max(axis=1) / 255, s[keep].argmax(axis=1)
        dets.append(np.column_stack([corner, r[:, 2:4], score, cls]))
    want = pycocotools_map(list(splits.y_val), dets)
    m = recs["fp32"]["metric"]
    assert (m["name"], m["value"], m["extra"]["mAP50"]["value"]) == (
        "mAP",
        pytest.approx(want[0], abs=1e-6),
        pytest.approx(want[1], abs=1e-6),
    )
    assert m["ci95"] == [0.0, 0.0] and m["n_samples"] == len(splits.y_val)
    q = recs["int8"]["metric"]
    assert recs["int8"]["axes"]["backend"] == "ort_static_qdq"
    assert q["baseline"] == pytest.approx(want[0], abs=1e-6) and 0 <= q["value"] <= 1
    assert q["ci95"][0] <= q["ci95"][1]


def test_yolov5_scores_are_objectness_times_class_score():
    raw = np.zeros((8, 5 + 2))
    raw[0] = [20, 20, 10, 10, 0.5, 0.8, 0.1]  # score 0.4 for class 0, 0.05 for class 1
    got = D.decode(raw)
    np.testing.assert_allclose(got[:, 4:], [[0.4, 0], [0.05, 1]], atol=1e-6)


def test_the_pipeline_s_evaluate_hands_detection_to_its_task():
    """evaluate.outcomes / compare / value: the calls the pipeline makes, whatever the task."""
    from runner.job import evaluate

    truth = [np.array([[c, x, y, w, h, 0] for c, x, y, w, h in t]).reshape(-1, 6) for t, _ in HAND]
    raw = np.stack([code(d, "yolov5").reshape(N_ROWS, -1) for _, d in HAND])
    raw[:, :, 4:] /= 255
    y = np.empty(len(truth), dtype=object)
    y[:] = truth
    ev = evaluate.outcomes("detection", raw, y)
    m = evaluate.compare("detection", ev, ev, y, outputs=(raw, raw))
    assert (m["name"], m["value"], m["ci95"], m["n_samples"]) == ("mAP", pytest.approx(HAND_MAP),
                                                                 [0.0, 0.0], 4)  # fmt: skip
    assert evaluate.value("detection", ev) == pytest.approx(HAND_MAP)
    with pytest.raises(ValueError, match="valid: .*detection.*text_classification"):
        evaluate.outcomes("segmentation", raw, y)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["images"][0].update(file_name="../ann.json"), "is not a file in"),  # hostile
        (lambda m: m["annotations"][0].pop("bbox"), "missing a COCO field"),
        (lambda m: m.pop("categories"), "lacks COCO's 'images', 'annotations' and 'categories'"),
    ],
)
def test_a_bad_coco_file_fails_in_one_line(tmp_path, edit, message):
    from runner.datasets import coco
    from tests.conftest import typed

    images, ann = coco_folder(tmp_path / "data", HAND, "yolov5")
    meta = json.loads(ann.read_text())
    edit(meta)
    ann.write_text(json.dumps(meta))
    cfg = typed("model=onnx_detector", f"dataset.path={images}", f"dataset.annotations={ann}",
                f"dataset.image_size=[{SIDE},{SIDE}]")  # fmt: skip
    with pytest.raises(ValueError, match=message) as exc:
        coco.read(cfg.dataset)
    assert "\n" not in str(exc.value)


def test_a_detector_for_other_classes_is_refused_naming_the_shapes(tmp_path, cache_dir):
    from runner.core.registry import get
    from tests.conftest import typed

    model = tiny_detector(tmp_path / "det.onnx", "yolov5")  # 2 classes: [N, 7]
    images, ann = coco_folder(tmp_path / "data", HAND, "yolov5")
    meta = json.loads(ann.read_text())
    meta["categories"].append({"id": 9})  # the data now has 3 categories
    ann.write_text(json.dumps(meta))
    cfg = typed("model=onnx_detector", f"model.path={model}", f"dataset.path={images}",
                f"dataset.annotations={ann}", f"dataset.image_size=[{SIDE},{SIDE}]",
                "dataset.grayscale=false", "dataset.calib_fraction=0.5")  # fmt: skip
    splits = get("dataset", "coco")(cfg.dataset)
    with pytest.raises(ValueError, match=r"outputs \[1, 8, 7\], but the data has 3 categories"):
        get("model", "onnx_detector")(cfg.model, splits, cache_dir)
