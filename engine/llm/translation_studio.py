"""Translation Studio: generate, learn, validate, optimise, store and run protocol translations.

This is the facade the operations guide uses (``engine.llm.translation_studio``); the work is done
in :mod:`engine.translation`. Every method is pure engine code: no broker, no event loop of its
own. Methods the guide awaits are ``async`` but do not yield; they can be called from any loop.

Active rules: one rule set per protocol pair is *active* and used by :meth:`translate_protocol`.
Generating, training (when it meets ``Config.translation.min_pass_rate``) and loading make a set
active; a load that fails leaves the active set unchanged.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.config import Config
from engine.errors import LLMError, TranslationError
from engine.llm.unified_llm_service import UnifiedLLMService
from engine.translation import store
from engine.translation.compiler import CompiledTranslation, compile_rules, verify
from engine.translation.errors import NoActiveRulesError, RulesValidationError
from engine.translation.evaluate import Translator, check_rule_set
from engine.translation.generator import build_test_cases, generate, sample_sources, with_accuracy
from engine.translation.learner import learn, normalise
from engine.translation.rules import TestCase, TranslationRules
from engine.translation.spec import (
    FieldType,
    Framing,
    ProtocolField,
    ProtocolSpecification,
    ProtocolType,
)
from engine.translation.tags import BlockContext
from engine.translation.validation import percentile, score

__all__ = [
    "FieldType",
    "Framing",
    "OptimizationResult",
    "ProtocolField",
    "ProtocolSpecification",
    "ProtocolTranslationStudio",
    "ProtocolType",
    "TranslationRules",
]

#: Recent frames kept per pair for :meth:`get_performance_data` (bounded memory).
_SAMPLE_FRAMES = 256
_LATENCY_WINDOW = 10_000


@dataclass
class OptimizationResult:
    """Outcome of :meth:`ProtocolTranslationStudio.optimize_translation`.

    Attributes:
        performance_improvement: Relative latency reduction (0.8 = 80 % faster).
        accuracy_improvement: Accuracy after minus accuracy before (identical outputs → 0).
        optimizations_applied: What the compiler did, one line each.
        optimized_rules: The simplified rule set (identity transforms dropped).
        baseline_us: Median µs per translation before.
        optimized_us: Median µs per translation after.
        frames_checked: Frames on which both versions gave identical results.
    """

    performance_improvement: float
    accuracy_improvement: float
    optimizations_applied: list[str]
    optimized_rules: TranslationRules
    baseline_us: float = 0.0
    optimized_us: float = 0.0
    frames_checked: int = 0


@dataclass
class _PairStats:
    total: int = 0
    ok: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))
    frames: deque[bytes] = field(default_factory=lambda: deque(maxlen=_SAMPLE_FRAMES))
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class _Active:
    rules: TranslationRules
    compiled: CompiledTranslation


class ProtocolTranslationStudio:
    """Facade over rule generation, learning, validation, compilation and storage.

    Args:
        config: Engine configuration (``Config.translation`` and ``Config.llm`` are used).
        llm_service: Optional LLM step; ``UnifiedLLMService(config)`` when omitted.
    """

    def __init__(
        self, config: Config | None = None, llm_service: UnifiedLLMService | None = None
    ) -> None:
        self.config = config or Config()
        self.llm = llm_service or UnifiedLLMService(self.config)
        self._active: dict[tuple[str, str], _Active] = {}
        self._stats: dict[tuple[str, str], _PairStats] = {}
        self._total_latency_ms = 0.0
        self._accuracy_sum = 0.0
        self.last_llm_outcome: str | None = None

    # -- active rules -------------------------------------------------------------------------

    def activate_rules(self, rules: TranslationRules) -> None:
        """Validate, compile and make ``rules`` the active set for its pair.

        Raises:
            RulesValidationError: The set does not fit its specifications.
        """
        check_rule_set(rules)
        self._active[rules.pair] = _Active(rules, compile_rules(rules))

    def active_rules(self, source_protocol: str, target_protocol: str) -> TranslationRules | None:
        """The active rule set for a pair, if any."""
        active = self._active.get((source_protocol, target_protocol))
        return active.rules if active else None

    # -- generation and training --------------------------------------------------------------

    async def generate_translation_rules(
        self, source_spec: ProtocolSpecification, target_spec: ProtocolSpecification
    ) -> TranslationRules:
        """Generate a rule set (offline and deterministic; LLM proposal if configured) and
        make it active.

        Returns:
            The rule set, with ``accuracy`` measured on its generated ``test_cases``.
        """
        rules = generate(source_spec, target_spec, version=self.config.translation.version)
        if self.llm.available:
            rules = await self._consider_llm(rules)
        self.activate_rules(rules)
        return rules

    async def _consider_llm(self, baseline: TranslationRules) -> TranslationRules:
        try:
            proposal = await self.llm.propose_rules(baseline.source_spec, baseline.target_spec)
            candidate = baseline.model_copy(
                update={
                    "rules": proposal,
                    "generator": f"llm:{self.llm.settings.model}",
                    "test_cases": build_test_cases(
                        proposal, [tc.source for tc in baseline.test_cases]
                    ),
                }
            )
            candidate = TranslationRules.model_validate(candidate.model_dump())
            check_rule_set(candidate)
            candidate = with_accuracy(candidate)
        except (LLMError, RulesValidationError, ValueError) as exc:
            self.last_llm_outcome = f"rejected: {exc}"
            return baseline
        floor = max(self.config.translation.min_pass_rate, baseline.accuracy)
        if candidate.accuracy < floor:
            self.last_llm_outcome = f"rejected: accuracy {candidate.accuracy:.4f} < {floor:.4f}"
            return baseline
        self.last_llm_outcome = "accepted"
        return candidate

    async def train_translation_rules_batch(
        self,
        training_batches: list[list[Any]],
        source_spec: ProtocolSpecification,
        target_spec: ProtocolSpecification,
        validation_data: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Learn rules from example pairs, batch by batch (each batch adds to the evidence).

        Args:
            training_batches: Batches of ``{'source': ..., 'expected_target': ...}`` with dicts
                of field values or raw frames on both sides.
            source_spec: Specification of the source frames.
            target_spec: Specification of the target frames.
            validation_data: Held-out examples; the final set is activated only if its pass rate
                on them reaches ``Config.translation.min_pass_rate``.

        Returns:
            ``batch_metrics`` (``batch_idx``, ``accuracy`` on the examples seen so far,
            ``pass_rate`` and ``avg_latency_ms`` on the validation data, ``num_examples``,
            ``ambiguities``), ``final_rules``, ``ambiguities``, ``unresolved`` and ``activated``.
        """
        seen: list[Any] = []
        history: dict[str, Any] = {"batch_metrics": [], "final_rules": None, "activated": False}
        rules: TranslationRules | None = None
        for batch_idx, batch in enumerate(training_batches):
            seen.extend(batch)
            if not seen:
                continue
            result = learn(seen, source_spec, target_spec)
            pairs = normalise(seen, source_spec, target_spec)
            rules = TranslationRules(
                version=self.config.translation.version,
                source_protocol=source_spec.protocol_id,
                target_protocol=target_spec.protocol_id,
                source_spec=source_spec,
                target_spec=target_spec,
                rules=result.rules,
                test_cases=[TestCase(source=s, expected_target=d) for s, d in pairs],
                ambiguities=result.ambiguities,
                generator="learned",
            )
            rules = with_accuracy(rules)
            checked = score(rules, validation_data) if validation_data else None
            history["batch_metrics"].append(
                {
                    "batch_idx": batch_idx,
                    "accuracy": rules.accuracy,
                    "pass_rate": checked["pass_rate"] if checked else rules.accuracy,
                    "avg_latency_ms": (checked or score(rules, rules.test_cases))["avg_latency_ms"],
                    "num_examples": len(seen),
                    "ambiguities": list(result.ambiguities),
                }
            )
            history["ambiguities"] = list(result.ambiguities)
            history["unresolved"] = list(result.unresolved)
        if rules is not None:
            history["final_rules"] = rules
            last = history["batch_metrics"][-1]
            if last["pass_rate"] >= self.config.translation.min_pass_rate:
                self.activate_rules(rules)
                history["activated"] = True
        return history

    # -- running and scoring ------------------------------------------------------------------

    async def translate_protocol(
        self, source_protocol: str, target_protocol: str, message: bytes
    ) -> bytes:
        """Translate one frame with the active rules of the pair.

        Raises:
            NoActiveRulesError: No rules are active for the pair.
            TranslationError: ``FrameParseError``, ``RuleRuntimeError`` or ``FieldValueError``
                naming the field and the reason.
        """
        return self.translate_sync(source_protocol, target_protocol, message)

    def translate_sync(
        self,
        source_protocol: str,
        target_protocol: str,
        message: bytes,
        context: BlockContext | None = None,
    ) -> bytes:
        """Synchronous form of :meth:`translate_protocol` (for stream processors).

        ``context`` is the request a Modbus response answers, which tag-mapped rule sets need
        (:class:`~engine.translation.tags.BlockContext`); raw rule sets ignore it.
        """
        pair = (source_protocol, target_protocol)
        active = self._active.get(pair)
        if active is None:
            raise NoActiveRulesError(
                f"no active rules for {source_protocol}->{target_protocol}",
                field=None,
                reason="no_rules",
            )
        stats = self._stats.setdefault(pair, _PairStats())
        start = time.perf_counter()
        try:
            out = active.compiled.translate(bytes(message), context)
        except TranslationError as exc:
            self._record(stats, start, message, ok=False)
            stats.errors[exc.reason] = stats.errors.get(exc.reason, 0) + 1
            raise
        self._record(stats, start, message, ok=True)
        self._accuracy_sum += active.rules.accuracy
        return out

    def _record(self, stats: _PairStats, start: float, frame: bytes, ok: bool) -> None:
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        stats.total += 1
        stats.ok += ok
        stats.latencies_ms.append(elapsed_ms)
        stats.frames.append(bytes(frame))
        self._total_latency_ms += elapsed_ms

    async def _validate_translation_rules(
        self, rules: TranslationRules, validation_data: list[Any] | None = None
    ) -> dict[str, Any]:
        """Score ``rules`` on examples (its own test cases when none are given).

        Returns:
            ``pass_rate``, ``error_rate``, ``avg_latency_ms``, ``p95_latency_ms``, ``total``,
            ``passed``, ``errors`` and ``failures``.
        """
        return score(rules, validation_data if validation_data else rules.test_cases)

    def get_statistics(self) -> dict[str, Any]:
        """Counters over every translation this studio ran.

        Returns:
            ``total_translations``, ``successful_translations``, ``failed_translations``,
            ``average_accuracy`` (accuracy of the rules used, per successful translation),
            ``average_latency_ms`` and ``active_pairs``.
        """
        total = sum(s.total for s in self._stats.values())
        ok = sum(s.ok for s in self._stats.values())
        return {
            "total_translations": total,
            "successful_translations": ok,
            "failed_translations": total - ok,
            "average_accuracy": self._accuracy_sum / ok if ok else 0.0,
            "average_latency_ms": self._total_latency_ms / total if total else 0.0,
            "active_pairs": [f"{s}->{t}" for s, t in self._active],
        }

    async def get_performance_data(
        self, source_protocol: str, target_protocol: str
    ) -> dict[str, Any]:
        """Recent performance of a pair; empty when the pair has no active rules.

        Returns:
            ``pair``, ``rules_version``, ``accuracy``, ``translations``, ``successes``,
            ``avg_latency_ms``, ``p95_latency_ms``, ``errors`` (by reason) and ``sample_frames``
            (recent frames, used by :meth:`optimize_translation` to measure).
        """
        pair = (source_protocol, target_protocol)
        active = self._active.get(pair)
        if active is None:
            return {}
        stats = self._stats.get(pair, _PairStats())
        latencies = list(stats.latencies_ms)
        return {
            "pair": f"{source_protocol}->{target_protocol}",
            "rules_version": active.rules.version,
            "accuracy": active.rules.accuracy,
            "translations": stats.total,
            "successes": stats.ok,
            "avg_latency_ms": sum(latencies) / len(latencies) if latencies else 0.0,
            "p95_latency_ms": percentile(latencies, 95.0),
            "errors": dict(stats.errors),
            "sample_frames": list(stats.frames),
        }

    async def optimize_translation(
        self, rules: TranslationRules, performance_data: dict[str, Any] | None = None
    ) -> OptimizationResult:
        """Compile ``rules`` into one specialised function and measure it against the
        interpreter on the test cases and recent frames.

        Raises:
            RulesValidationError: The compiled function differs from the interpreter on some
                frame (it is then not used).
        """
        frames = self._frames_for(rules, performance_data)
        compiled = compile_rules(rules)
        differ = verify(compiled, frames)
        if differ:
            raise RulesValidationError(
                f"compiled rules differ from the interpreter on {len(differ)} of "
                f"{len(frames)} frames; not applied"
            )
        reference = Translator(rules)
        before = _median_us(reference.translate, frames)
        after = _median_us(compiled.translate, frames)
        optimized = compiled.rules.model_copy(update={"generator": "optimized"})
        return OptimizationResult(
            performance_improvement=(before - after) / before if before > 0 else 0.0,
            accuracy_improvement=with_accuracy(optimized).accuracy - rules.accuracy,
            optimizations_applied=list(compiled.optimizations),
            optimized_rules=optimized,
            baseline_us=before,
            optimized_us=after,
            frames_checked=len(frames),
        )

    @staticmethod
    def _frames_for(
        rules: TranslationRules, performance_data: dict[str, Any] | None
    ) -> list[bytes]:
        translator = Translator(rules)
        frames = [bytes(f) for f in (performance_data or {}).get("sample_frames", [])]
        sources = [tc.source for tc in rules.test_cases] or sample_sources(rules.source_spec)
        for source in sources:
            if isinstance(source, bytes | bytearray):
                frames.append(bytes(source))
                continue
            try:
                frames.append(translator.source_codec.build(source))
            except TranslationError:
                continue  # a partial example (not a whole frame) cannot be measured as bytes
        return frames

    # -- persistence --------------------------------------------------------------------------

    async def save_translation_rules(
        self,
        rules: TranslationRules,
        rules_dir: str | Path | None = None,
        version: str | None = None,
    ) -> str:
        """Write ``rules`` as a versioned JSON file with a sha256 sidecar.

        Args:
            rules: The rule set.
            rules_dir: Directory; ``Config.translation.rules_dir`` when omitted.
            version: Semantic version stamped on the file; the set's own when omitted.

        Returns:
            The path of the written file.

        Raises:
            RulesVersionError: ``version`` is not a semantic version.
        """
        directory = rules_dir if rules_dir is not None else self.config.translation.rules_dir
        return str(store.save(rules, directory, version))

    def list_saved_rules(
        self,
        rules_dir: str | Path | None = None,
        source_protocol: str | None = None,
        target_protocol: str | None = None,
    ) -> list[dict[str, Any]]:
        """Saved rule sets, newest first: dicts with ``filename``, ``path``, ``version``,
        ``accuracy``, ``source_protocol``, ``target_protocol`` and ``saved_at``."""
        directory = rules_dir if rules_dir is not None else self.config.translation.rules_dir
        return store.list_saved(directory, source_protocol, target_protocol)

    async def load_translation_rules(self, path: str | Path) -> TranslationRules:
        """Load, verify and activate a rules file; on any error the active rules stay.

        Raises:
            RulesFileError: Missing, corrupt, tampered (``RulesIntegrityError``) or
                schema-invalid file.
            RulesValidationError: The rules do not fit their specifications.
        """
        rules = store.load(path)
        self.activate_rules(rules)
        return rules


def _median_us(fn: Any, frames: list[bytes], rounds: int = 5) -> float:
    """Median µs per frame over ``rounds`` passes (errors count as work done)."""
    if not frames:
        return 0.0
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for frame in frames:
            with contextlib.suppress(TranslationError):
                fn(frame)
        samples.append((time.perf_counter() - start) * 1e6 / len(frames))
    samples.sort()
    return samples[len(samples) // 2]
