"""The Inception family. Importing this package registers every variant (see ``list_models()``)."""
from .base import AuxHead, InceptionNet, ModelInfo
from .registry import create_model, get_model_info, list_models, register_model

# Each module registers its variants on import.
from . import googlenet  # noqa: E402,F401
from . import bn_inception  # noqa: E402,F401
from . import inception_v2  # noqa: E402,F401
from . import blocks  # noqa: E402,F401
from . import inception_v3  # noqa: E402,F401
from . import inception_v4  # noqa: E402,F401
from . import inception_resnet  # noqa: E402,F401
from . import xception  # noqa: E402,F401
