"""Make the local test portal accept Thai tags like the production GD Catalog.

Stock CKAN checks tags with ``[\\w \\-.]*``; Thai vowel and tone marks are
combining marks (not ``\\w``), so ``คุณภาพอากาศ`` is refused. DGA's
ckanext-thai_gdc replaces the rule with ``[ก-๙\\w \\-.]`` (TAG_PATTERN in
harvesters/gdc/fields.py).

Hook: IValidators. ``ckan.logic.get_validator`` fills its registry with core
validators first and then with each plugin's, so a plugin validator with a core
name replaces the core one everywhere a schema names it:
- ``tag_name_validator``: the ``tags`` sub-schema of the package schemas;
- ``tag_string_convert``: named by scheming's ``tag_string_autocomplete``
  preset. The core one calls the core tag_name_validator directly (a module
  global, not through the registry), so it has to be replaced as well.
"""

from __future__ import annotations

import re
from itertools import count
from typing import Any

import ckan.plugins as p
from ckan.logic.validators import tag_length_validator
from ckan.plugins.toolkit import Invalid, _

# Same rule as harvesters.gdc.fields.TAG_PATTERN (the portal venv does not have
# the harvesters package installed, so it is repeated here).
THAI_TAG = re.compile(r"^[ก-๙\w \-.]+$")
# `ckanext.gdcthai.tag_rule = any`: take any tag, as DGA's production portals do (the test portal
# that runs DGA's own schema sets it); the default `thai` is the project portal's rule above.
TAG_RULE_OPTION = "ckanext.gdcthai.tag_rule"


def thai_tag_name_validator(value: Any, context: Any) -> Any:
    if p.toolkit.config.get(TAG_RULE_OPTION, "thai") == "any":
        return value
    if not THAI_TAG.match(value):
        raise Invalid(_('Tag "%s" can only contain Thai or alphanumeric characters, '
                        'spaces (" "), hyphens ("-"), underscores ("_") or dots (".")') % value)
    return value


def thai_tag_string_convert(key, data, errors, context) -> None:
    """Core tag_string_convert with the Thai-aware name check."""
    value = data[key]
    if isinstance(value, str):
        tags = [t.strip() for t in value.split(",") if t.strip()]
    else:
        tags = value
    # Append after any tags already in the flattened data, as core does.
    start = max([int(k[1]) for k in data if len(k) == 3 and k[0] == "tags"] + [-1]) + 1
    for num, tag in zip(count(start), tags):
        data[("tags", num, "name")] = tag
    for tag in tags:
        tag_length_validator(tag, context)
        thai_tag_name_validator(tag, context)


class GdcThaiPlugin(p.SingletonPlugin):
    p.implements(p.IValidators)

    def get_validators(self) -> dict:
        return {
            "tag_name_validator": thai_tag_name_validator,
            "tag_string_convert": thai_tag_string_convert,
        }
