"""Fault injection with a seedable RNG: webhook drop/duplicate/delay/reorder and API 429/5xx/latency."""
import random
import threading


class Faults:
    def __init__(self, config):
        self.config = config
        self.lock = threading.Lock()
        self.rng = random.Random(config["faults"].get("seed"))

    def reseed(self) -> None:
        with self.lock:
            self.rng = random.Random(self.config["faults"].get("seed"))

    def _roll(self, share: float) -> bool:
        return share > 0 and self.rng.random() < share

    def api_fault(self) -> tuple[int | None, float]:
        """(status to answer instead of handling the request or None, latency in seconds to add)."""
        api = self.config["faults"]["api"]
        with self.lock:
            latency = float(api.get("latency_ms", 0))
            if float(api.get("latency_jitter_ms", 0)) > 0:  # only draw when used, so seeded runs stay reproducible
                latency += self.rng.random() * float(api["latency_jitter_ms"])
            if self._roll(float(api.get("http_429", 0))):
                return 429, latency / 1000
            if self._roll(float(api.get("http_5xx", 0))):
                return self.rng.choice(list(api.get("status_5xx") or [500])), latency / 1000
        return None, latency / 1000

    def webhook_plan(self) -> dict:
        """What happens to one emitted event: drop, duplicate, delay (seconds) and reorder flags."""
        wh = self.config["faults"]["webhook"]
        with self.lock:
            return {
                "drop": self._roll(float(wh.get("drop", 0))),
                "duplicate": self._roll(float(wh.get("duplicate", 0))),
                "delay": float(wh.get("delay_s", 1.0)) if self._roll(float(wh.get("delay", 0))) else 0.0,
                "reorder": self._roll(float(wh.get("reorder", 0))),
            }

    def jitter(self, upto: float) -> float:
        with self.lock:
            return self.rng.random() * upto

    def message_fails(self) -> bool:
        """Whether one outbound message ends `failed` (faults.messages.fail)."""
        share = float((self.config["faults"].get("messages") or {}).get("fail", 0))
        with self.lock:
            return self._roll(share)
