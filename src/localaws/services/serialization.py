"""moto's response serializer, parsing the timestamps it formats without dateutil.

moto 5.2.5's `TimestampSerializer` turns each timestamp into a datetime with botocore's
`parse_to_aware_datetime` before formatting it, and its models keep many as ISO 8601 text (S3
versions' LastModified): every one went through dateutil. `core.timestamps` parses that text
to the same datetime; anything else still goes to botocore.

It also finds each member's value in moto's model objects by trying, in order, the names its
alias providers suggest (`AttributePicker`): six provider objects built and asked for every
member of every answer, about a third of the serializer's time. Which names they suggest
depends only on the picker's class, the object's class, the member's key and its shape (with
the structure it belongs to): the shapes live as long as moto's cached service models, so the
names are worked out once per shape and kept on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core import serialize

from localaws.core.patching import Patches
from localaws.core.timestamps import fast_timestamp

patches = Patches("moto.serialization")


@patches.wrap(serialize, "parse_to_aware_datetime")
def parse_to_aware_datetime(original: Callable[[Any], Any], value: Any) -> Any:
    return original(fast_timestamp(value) if isinstance(value, str) else value)


_FAST_PICKERS = (serialize.AttributePicker, serialize.XFormedAttributePicker)
_KEYS_ATTRIBUTE = "_localaws_possible_keys"


@patches.wrap(serialize.ResponseSerializer, "get_value")
def get_value(original: Callable[..., Any], self: Any, value: Any, key: str, shape: Any) -> Any:
    """moto's `ResponseSerializer.get_value` with the picker's candidate names remembered."""
    picker = self._value_picker
    if (
        shape is None
        or type(picker) not in _FAST_PICKERS
        or picker.alias_providers is not serialize.DEFAULT_ALIAS_PROVIDERS
    ):
        return original(self, value, key, shape)
    known = shape.__dict__.get(_KEYS_ATTRIBUTE)
    if known is None:
        known = shape.__dict__.setdefault(_KEYS_ATTRIBUTE, {})
    which = (type(picker), type(value), key)
    names = known.get(which)
    if names is None:
        context = serialize.AttributePickerContext(
            obj=value,
            key=key,
            shape=shape,
            operation_model=self.operation_model,
            service_model=self.operation_model.service_model,
            key_path=".".join(self.path),
        )
        names = known[which] = tuple(picker.get_possible_keys(context))
    for name in names:
        found = serialize.get_value(value, name, serialize.MISSING)
        if found is not serialize.MISSING:
            break
    else:
        found = None
    if picker.response_transformers:
        key_path = ".".join(self.path) + "." + key
        for transform_path, transform in picker.response_transformers.items():
            if key_path.endswith(transform_path):
                return transform(found)
    return found
