"""The streaming worker: the Faust app, the frame agent, batch processing and publishing.

A batch of frames runs on one model snapshot (:mod:`.registry`), is detected and translated
(:mod:`.processor`, :mod:`.translator`), becomes results and dead letters (:mod:`.results`,
:mod:`.deadletter`), and is published before its offsets are committed (:mod:`.publisher`,
:mod:`.frame_agent`). :mod:`.app` wires the worker with the control consumer and the monitors.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "BatchProcessor": "processor",
    "BatchReport": "batch_report",
    "DeadLetter": "deadletter",
    "Frame": "results",
    "KafkaSettings": "settings",
    "LoadedRules": "translator",
    "ModelRegistry": "registry",
    "Outcome": "processor",
    "Record": "publisher",
    "ResultEncodeError": "results",
    "Snapshot": "registry",
    "UntranslatableError": "translator",
    "WorkerRuntime": "app",
    "WorkerSettings": "settings",
    "build_result": "results",
    "create_app": "app",
    "encode_result": "results",
    "faust_app": "app",
    "load_rules": "translator",
    "publish_outcomes": "publisher",
    "register_frame_agent": "frame_agent",
    "topic_plan": "topics",
    "translate": "translator",
    "withhold_acks": "frame_agent",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
