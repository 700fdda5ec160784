"""Published reference figures, in one place, each with its source.

Reports, presets and tests read them from here; nothing else in the project restates a paper's figure.
Accuracies are ImageNet (ILSVRC2012) validation top-1 / top-5 in %, single crop unless ``protocol`` says
otherwise: a measurement may be set beside them only when it is on that dataset with that protocol.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from contracts.record import Ablation, F

GOING_DEEPER = "Szegedy et al. 2014, Going Deeper with Convolutions (arXiv:1409.4842)"
BN_PAPER = "Ioffe & Szegedy 2015, Batch Normalization (arXiv:1502.03167)"
RETHINKING = "Szegedy et al. 2015, Rethinking the Inception Architecture (arXiv:1512.00567v1)"
INCEPTION_V4_PAPER = "Szegedy et al. 2016, Inception-v4, Inception-ResNet (arXiv:1602.07261)"
XCEPTION_PAPER = "Chollet 2017, Xception (arXiv:1610.02357)"
TF_BOOK_SOURCE = "TensorFlow book, 2018 (seed 000: TensorFlow, hardware not stated)"

IMAGENET_VAL = "imagenet_val"
SINGLE_CROP = "center"


@dataclass(frozen=True)
class PaperFigures:
    """A model's published figures: accuracy on ``dataset`` with ``protocol``, parameters and GMACs."""

    top1: float | None
    top5: float | None
    params: float | None
    gmacs: float | None
    source: str
    dataset: str = IMAGENET_VAL
    protocol: str = SINGLE_CROP

    def as_dict(self) -> dict[str, Any]:
        return {F.top1: self.top1, F.top5: self.top5, F.params: self.params, "gmacs": self.gmacs,
                "source": self.source, "dataset": self.dataset, "protocol": self.protocol}


MODELS: dict[str, PaperFigures] = {
    # Rethinking Table 3: 29.0% / 9.2% error, single crop (GoogLeNet's own Table 3 gives only top-5: 10.07%).
    # Params: the sum of Table 1's params column (Rethinking Sec. 1 says 5 million). GMACs: Sec. 1's
    # "computational budget of 1.5 billion multiply-adds" (Table 1's ops column sums to 1.502).
    "googlenet": PaperFigures(71.0, 90.8, 6.8e6, 1.5, f"{GOING_DEEPER}, Table 1 and Sec. 1; {RETHINKING}, Table 3"),
    # Figure 4: 25.2% / 7.82% error, single crop, 50,000 val images; 13.6M params (Sec. 4.2);
    # cost from Rethinking Table 3 ("2.0 Bn ops"), the BN paper gives none.
    "bn_inception": PaperFigures(74.8, 92.18, 13.6e6, 2.0, f"{BN_PAPER}, Sec. 4.2, Figure 4; {RETHINKING}, Table 3"),
    # Table 3 "Inception-v2": 23.4% top-1 error (top-5 not printed), "3.8 Bn ops"; params not stated.
    "inception_v2": PaperFigures(76.6, None, None, 3.8, f"{RETHINKING}, Table 3"),
    # Table 3 (21.2% / 5.6% error, single crop, 48,238 val images). Params without aux (paper: "< 25 million";
    # Xception paper Table 3: 23,626,728) and GMACs (paper: "5 billion multiply-adds") from torchvision 0.29's meta.
    "inception_v3": PaperFigures(78.8, 94.4, 23_834_568, 5.713,
                                 f"{RETHINKING}, Table 3; params/GMACs: torchvision 0.29 meta"),
    # Table 2: 20.0% / 5.0% error, single crop, non-blacklisted val; params/GMACs not stated: timm's recount.
    "inception_v4": PaperFigures(80.0, 95.0, 42_679_816, 12.254,
                                 f"{INCEPTION_V4_PAPER}, Table 2; params/GMACs: timm inception_v4 recount"),
    # Table 2: 21.3% / 5.5% error; params/GMACs not stated ("roughly the cost of Inception-v3", Sec. 3.2):
    # a rebuild of the paper's figures (no reference code exists).
    "inception_resnet_v1": PaperFigures(78.7, 94.5, 22_756_328, 6.206,
                                        f"{INCEPTION_V4_PAPER}, Table 2; params/GMACs: rebuild of the paper's figures"),
    # Table 2: 19.9% / 4.9% error; params: timm's count (55.84M); GMACs: "matches the raw cost of Inception-v4",
    # conv + linear MACs recounted (timm 13.18).
    "inception_resnet_v2": PaperFigures(80.1, 95.1, 55_843_464, 13.156,
                                        f"{INCEPTION_V4_PAPER}, Table 2; params/GMACs: timm inception_resnet_v2 recount"),
    # Table 1: single crop, non-blacklisted val; Table 3: 22,855,952 params (no FC layers); GMACs recounted.
    "xception": PaperFigures(79.0, 94.5, 22_855_952, 8.357,
                             f"{XCEPTION_PAPER}, Tables 1 and 3; GMACs: timm legacy_xception recount"),
    # GoogLeNet Table 1, inception (3a): 159K params (K = 1024: 163,328 weights), 128M ops.
    "inception_module_reduced": PaperFigures(None, None, 159e3, 0.128, f"{GOING_DEEPER}, Table 1, inception (3a)"),
}


def paper_figures(model: str) -> dict[str, Any]:
    """The published figures of ``model`` as a dict; {} for a model no paper gives figures for."""
    figures = MODELS.get(model)
    return figures.as_dict() if figures else {}


@dataclass(frozen=True)
class Table3Row:
    """One row of Rethinking Table 3: cumulative changes from GoogLeNet to Inception-v3."""

    row: str
    network: str
    top1_err: float
    top5_err: float | None   # None where the table prints none
    bn_ops: float            # the table's "Cost Bn Ops"


# Single crop, 48,238 non-blacklisted val images (Sec. 10); each row includes the one before it.
RETHINKING_TABLE3_SOURCE = f"{RETHINKING}, Table 3"
RETHINKING_TABLE3: dict[str, Table3Row] = {r.row: r for r in (
    Table3Row("googlenet", "GoogLeNet", 29.0, 9.2, 1.5),
    Table3Row("bn_googlenet", "BN-GoogLeNet", 26.8, None, 1.5),
    Table3Row("bn_inception", "BN-Inception", 25.2, 7.8, 2.0),
    Table3Row("inception_v2", "Inception-v2", 23.4, None, 3.8),
    Table3Row("rmsprop", "Inception-v2 RMSProp", 23.1, 6.3, 3.8),
    Table3Row("label_smoothing", "Inception-v2 Label Smoothing", 22.8, 6.1, 3.8),
    Table3Row("factorized_7x7", "Inception-v2 Factorized 7x7", 21.6, 5.8, 4.8),
    Table3Row("bn_auxiliary", "Inception-v2 BN-auxiliary (Inception-v3)", 21.2, 5.6, 4.8),
)}


def table3_fields(row: str) -> dict[str, Any]:
    """A Table 3 row as flat record fields (``row``, ``network``, ``paper_top1_err``, ...)."""
    r = RETHINKING_TABLE3[row]
    return asdict(Ablation(row=r.row, network=r.network, paper_top1_err=r.top1_err, paper_top5_err=r.top5_err,
                           paper_bn_ops=r.bn_ops, paper_source=RETHINKING_TABLE3_SOURCE))


# The TF book's Inception-v3 forward timing (seed 000): batch 32, 299x299, 10 burn-in + 100 timed steps.
TF_BOOK = {F.model: "inception_v3", F.batch_size: 32, F.input_size: 299, F.mode: "forward", F.steps: 100,
           F.burn_in: 10, F.mean_s: 0.168, F.std_s: 0.002, "source": TF_BOOK_SOURCE}


@dataclass(frozen=True)
class SeedPair:
    """Two blocks the seed documents compare: ``baseline`` and the ``improved`` form they argue for."""

    name: str
    baseline: str
    improved: str
    claim: str
    source: str


SEED_PAIRS: tuple[SeedPair, ...] = (
    SeedPair("1x1 reduction", "inception_module_naive", "inception_module_reduced",
             "a 16-channel 1x1 reduction cuts the 5x5 branch from ~120M to ~12.4M multiplies",
             f"seed 001; {GOING_DEEPER}, Sec. 4, Fig. 2"),
    SeedPair("5x5 -> two 3x3", "block_conv5x5", "block_two_conv3x3",
             "two 3x3 convs cost (9 + 9) / 25 of one 5x5 with the same receptive field", f"{RETHINKING}, Sec. 3.1"),
    SeedPair("nxn -> 1xn + nx1", "block_conv_nxn", "block_conv_1xn_nx1",
             "1xn then nx1 costs 2/n of an nxn (2/7 for n = 7)", f"{RETHINKING}, Sec. 3.2"),
    SeedPair("parallel grid reduction", "grid_reduction_naive", "grid_reduction_parallel",
             "a stride-2 conv beside a stride-2 pool costs an eighth of conv-then-pool", f"{RETHINKING}, Sec. 5"),
)
