"""The trigger definition lives below every package (:mod:`aesthetic_inventory.trigger_spec`),
so a package contributing triggers does not depend on ``install``; re-exported here."""

from ..trigger_spec import COMMENT_MARKERS as COMMENT_MARKERS
from ..trigger_spec import TriggerSpec as TriggerSpec
from ..trigger_spec import comment_markers as comment_markers
from ..trigger_spec import normalize as normalize
