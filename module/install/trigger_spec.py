"""The trigger definitions moved below every package (:mod:`aesthetic_inventory.trigger_spec`),
so a package contributing triggers does not depend on ``install``; re-exported here."""

from ..trigger_spec import STAMP_PREFIX as STAMP_PREFIX
from ..trigger_spec import WRAPPER_FORMAT as WRAPPER_FORMAT
from ..trigger_spec import TriggerSpec as TriggerSpec
