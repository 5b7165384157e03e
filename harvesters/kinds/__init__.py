"""Source kinds. Each is one module with its settings model and its gather.

A kind's settings model has a ``kind`` literal (the discriminator in the source
config) and a ``gather(source_id) -> list[RemoteFile]`` method. Kinds whose files
are plain URLs share the generic HTTP fetch; others will add their own.
"""

from .http import HttpSource

SOURCE_KINDS = (HttpSource,)
