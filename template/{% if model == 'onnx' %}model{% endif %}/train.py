"""The example model: trained from a fixed seed on data made here, exported to ONNX.

`make model` runs it in .venv-train (requirements/train.txt), then writes the model lock
(tools/model_lock.py). The same packages give the same bytes on every run: the data and
the forest come from fixed seeds, the forest is grown on one thread, and the export
names its opsets. Replace it with your own training; keep the last step, the export to
ONNX (README: Serving the model).
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import RandomForestClassifier

FEATURES = [
    "amount",
    "hour",
    "items",
    "account_age_days",
    "previous_orders",
    "distance_km",
    "discount",
    "returns",
]
CLASSES = ["approve", "review", "decline"]
# The opsets of the export: what ONNX Runtime 1.17 and newer run. A newer runtime reads
# older opsets; an older one refuses newer ones, naming them.
OPSETS = {"": 17, "ai.onnx.ml": 3}


def training_data(rows: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Orders with a risk score made of their features, and a class from that score."""
    random = np.random.default_rng(20260101)
    x = random.normal(size=(rows, len(FEATURES))).astype(np.float32)
    score = x @ np.linspace(1.0, -0.5, len(FEATURES), dtype=np.float32) + random.normal(
        scale=0.5, size=rows
    )
    y = np.digitize(score, [-0.5, 0.8])
    return x, y


def train() -> onnx.ModelProto:
    x, y = training_data()
    forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0, n_jobs=1).fit(
        x, y
    )
    # Probabilities as a tensor (no ZipMap): what the Open Inference Protocol can carry.
    model = to_onnx(
        forest,
        initial_types=[("features", FloatTensorType([None, len(FEATURES)]))],
        target_opset=OPSETS,
        options={id(forest): {"zipmap": False}},
    )
    onnx.helper.set_model_props(
        model, {"feature_names": ",".join(FEATURES), "classes": ",".join(CLASSES)}
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> int:
    output = Path(sys.argv[1] if len(sys.argv) > 1 else "model/model.onnx")
    output.write_bytes(train().SerializeToString())
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
