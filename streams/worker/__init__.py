"""The streaming worker: the Faust app, the frame agent, batch processing and publishing.

A batch of frames runs on one model snapshot (:mod:`.registry`), is detected and translated
(:mod:`.processor`, :mod:`.translator`), becomes results and dead letters (:mod:`.results`,
:mod:`.deadletter`), and is published before its offsets are committed (:mod:`.publisher`,
:mod:`.frame_agent`), with up to ``pipeline_depth`` batches in flight (:mod:`.pipeline`).
:mod:`.app` wires the worker with the control consumer and the monitors.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "app": ("WorkerRuntime", "create_app", "faust_app"),
    "batch_report": ("BatchReport",),
    "deadletter": ("DeadLetter",),
    "frame_agent": ("register_frame_agent",),
    "pipeline": ("BatchPipeline",),
    "processor": ("BatchProcessor", "Outcome"),
    "publisher": ("Record", "publish_outcomes"),
    "registry": ("ModelRegistry", "Snapshot"),
    "results": ("Frame", "ResultEncodeError", "build_result", "encode_result"),
    "settings": ("KafkaSettings", "WorkerSettings"),
    "topics": ("topic_plan",),
    "translator": ("LoadedRules", "UntranslatableError", "load_rules", "translate"),
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
