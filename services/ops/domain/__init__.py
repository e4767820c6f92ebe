"""Pure formatting and aggregation for the ops command line: no I/O, no clock, no logging."""

from services.ops.domain.lag import CONSUMER_GROUPS, PartitionLag, render_lag
from services.ops.domain.lines import OpsRecord, format_record, parse_record
from services.ops.domain.stats import DecisionFacts, StateFact, render_stats
from services.ops.domain.table import render_table
from services.ops.domain.timeline import Step, merge_steps, ops_steps, render_timeline

__all__ = [
    "CONSUMER_GROUPS",
    "DecisionFacts",
    "OpsRecord",
    "PartitionLag",
    "StateFact",
    "Step",
    "format_record",
    "merge_steps",
    "ops_steps",
    "parse_record",
    "render_lag",
    "render_stats",
    "render_table",
    "render_timeline",
]
