"""The Inception family. Importing this package registers every variant (see ``list_models()``).

Shared parts: ``layers`` (conv block, branches as data), ``inception_modules`` (modules several families use),
``heads`` (aux classifiers), ``base`` (``InceptionNet``, ``ModelInfo``), ``checkpoint`` (weights import),
``registry``. Then one module per family, importing only the shared parts.
"""
from .base import InceptionNet, ModelInfo
from .checkpoint import CheckpointMismatchError, load_checkpoint
from .heads import AuxHead
from .registry import create_model, get_model_info, list_models, register_model

# Each family module registers its variants on import.
from . import googlenet  # noqa: E402,F401
from . import bn_inception  # noqa: E402,F401
from . import inception_v2  # noqa: E402,F401
from . import blocks  # noqa: E402,F401
from . import inception_v3  # noqa: E402,F401
from . import inception_v4  # noqa: E402,F401
from . import inception_resnet  # noqa: E402,F401
from . import xception  # noqa: E402,F401
