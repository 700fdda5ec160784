"""The one compiled part, optional: ``lightning_modules._jpeg_region`` (region-only JPEG decodes, ``data.decoder=region``).

It needs a C compiler and libjpeg-turbo's headers (Debian: ``apt install gcc libjpeg62-turbo-dev``); without them
the install goes on without it and ``data.decoder=auto`` takes simplejpeg or Pillow.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("lightning_modules._jpeg_region", ["lightning_modules/jpeg_region.c"],
                             libraries=["jpeg"], optional=True)])
