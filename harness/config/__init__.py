"""safety.yaml: its schema (schema.py, the stages' settings in stages.py) and its loader (load.py)."""

from .load import DEFAULT_GATES, load_config, parse
from .schema import Config, Gate, GateOn, GateOp, GenerationConfig, SuiteFile
from .stages import DEFAULT_LR, METHOD_SETTINGS, Antidote, AttackSpec, DirectionRestore, DpoRealign, RecoverySpec, Resta, Steering

__all__ = ["DEFAULT_GATES", "DEFAULT_LR", "METHOD_SETTINGS", "Antidote", "AttackSpec", "Config", "DirectionRestore",
           "DpoRealign", "Gate", "GateOn", "GateOp", "GenerationConfig", "RecoverySpec", "Resta", "Steering", "SuiteFile",
           "load_config", "parse"]
