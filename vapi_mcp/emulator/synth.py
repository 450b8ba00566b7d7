"""Synthetic call audio, sans I/O: a telephony noise floor and speech-like utterances, cheap enough to stream.

Why the audio looks the way it does: an energy-based analyser must see what a phone call gives it. So
there is always a telephony-band noise floor, and speech is a voiced harmonic signal (f0 110-220 Hz,
vibrato, falling intonation) shaped by a ~4-5 Hz syllabic envelope and cut into words by 60-180 ms gaps
(never 200 ms: a silence detector must not split an utterance), starting and ending exactly on the
scripted boundaries, normalised to the utterance's RMS level.

Why it is cheap: a benchmark streams hundreds of calls from one process. Noise comes from one shared,
precomputed circular loop (a call starts at a seed-dependent offset); each utterance's waveform is
synthesised once, vectorised, when it starts, and shared between calls through a bounded cache
(:data:`WAVES`), so rendering (:mod:`vapi_mcp.emulator.audio`) is slices and adds, no per-sample Python.
"""

from __future__ import annotations

import functools
import random
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

__all__ = ["FULL_SCALE", "NOISE_LOOP", "WAVES", "WaveSpec", "noise_loop"]

FULL_SCALE = 32768.0  # dBFS here is 20*log10(rms / 32768), the convention of the audio summary
NOISE_LOOP = 1 << 17  # samples (8.2 s at 16 kHz): long enough that nobody hears the loop
_WORD_S = (0.18, 0.55)
_GAP_S = (0.06, 0.18)
_RAMP_S = 0.006
_WAVE_CACHE_BYTES = 64 << 20


# --- synthesis (pure functions of their arguments, cached) ------------------------------------------------------


@functools.lru_cache(maxsize=8)
def noise_loop(sample_rate: int, noise_dbfs: float, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """A circular telephone-band (300-3400 Hz) noise loop at ``noise_dbfs`` RMS, as int16 and as float32.

    Shaped in the frequency domain, so the loop wraps around without a seam. The float copy holds the same
    integer values: adding no speech to it then converting gives exactly the int16 copy, which lets
    :meth:`CallAudio.render` skip the float path when nobody speaks without changing a single byte.
    """
    rng = np.random.default_rng(0x5EED)
    freqs = np.fft.rfftfreq(NOISE_LOOP, 1 / sample_rate)
    band = (freqs >= 300) & (freqs <= min(3400, 0.45 * sample_rate))
    spectrum = rng.standard_normal((channels, freqs.size)) + 1j * rng.standard_normal((channels, freqs.size))
    noise = np.fft.irfft(spectrum * band, n=NOISE_LOOP, axis=1)
    noise *= FULL_SCALE * 10 ** (noise_dbfs / 20) / np.sqrt(np.mean(noise**2, axis=1, keepdims=True))
    as_int = np.ascontiguousarray(np.clip(np.rint(noise.T), -32768, 32767).astype("<i2"))
    if channels == 1:
        as_int = as_int[:, 0].copy()
    as_float = as_int.astype(np.float32)
    as_int.flags.writeable = as_float.flags.writeable = False
    return as_int, as_float


@dataclass(frozen=True)
class WaveSpec:
    """Everything one utterance's waveform depends on (so it is also the cache key)."""

    sample_rate: int
    n: int
    f0: float
    harmonics: tuple[float, ...]
    vibrato_hz: float
    vibrato_depth: float
    level_dbfs: float
    seed: tuple[int, ...]


def _word_gate(spec: WaveSpec, rng: random.Random) -> np.ndarray:
    """Words of 180-550 ms at slightly varying loudness, separated by 60-180 ms of nothing, ramped at the edges."""
    sr, n = spec.sample_rate, spec.n
    gate = np.zeros(n, dtype=np.float32)
    ramp_n = max(1, int(_RAMP_S * sr))
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp_n))).astype(np.float32)
    min_word = int(0.15 * sr)
    start = 0
    while start < n:
        end = start + int(rng.uniform(*_WORD_S) * sr)
        gap = int(rng.uniform(*_GAP_S) * sr)
        if n - end < gap + min_word:  # no room for a gap and one more word: this word runs to the end
            end = n
        gate[start:end] = rng.uniform(0.75, 1.0)
        if end - start > 2 * ramp_n:
            gate[start : start + ramp_n] *= ramp
            gate[end - ramp_n : end] *= ramp[::-1]
        start = end + gap
    return gate


def _synthesize(spec: WaveSpec) -> np.ndarray:
    """A voiced, speech-like waveform of ``spec.n`` samples at ``spec.level_dbfs`` RMS (float32, read-only).

    float32 throughout except the phase accumulator: numpy's float32 ``sin`` is vectorised (about 0.5 ns a
    sample here), its float64 one is ten times slower, and synthesis is most of what a new utterance costs.
    """
    rng = random.Random(repr(spec.seed))  # str seeds hash with SHA-512: stable across processes
    sr, n = spec.sample_rate, spec.n
    two_pi = np.float32(2 * np.pi)
    t = np.arange(n, dtype=np.float32) * np.float32(1 / sr)
    # Intonation: a falling line with one slow rise and fall, times vibrato.
    drift = np.sin(t * np.float32(2 * np.pi * rng.uniform(0.3, 0.8)) + np.float32(rng.uniform(0, 6)))
    pitch = np.float32(1.06) - t * np.float32(0.12 * sr / n) + np.float32(0.04) * drift
    pitch *= np.float32(1) + np.float32(spec.vibrato_depth) * np.sin(t * np.float32(2 * np.pi * spec.vibrato_hz))
    phase = np.cumsum(pitch, dtype=np.float64)
    phase *= 2 * np.pi * spec.f0 / sr
    phase %= 2 * np.pi
    phase32 = phase.astype(np.float32)
    voiced = np.zeros(n, dtype=np.float32)
    for k, amplitude in enumerate(spec.harmonics, start=1):
        if k * spec.f0 * 1.2 < sr / 2:
            voiced += np.float32(amplitude) * np.sin(phase32 * np.float32(k) + np.float32(rng.uniform(0, 2 * np.pi)))
    # Syllables: the loudness swells and dips (to 40 %) four to five times a second.
    syllables = np.cos(t * (two_pi * np.float32(rng.uniform(4.0, 5.0))) + np.float32(rng.uniform(0, 2 * np.pi)))
    syllables *= np.float32(0.3)
    syllables += np.float32(0.7)
    voiced *= syllables
    voiced *= _word_gate(spec, rng)
    rms = float(np.sqrt(np.mean(np.square(voiced, dtype=np.float64))))
    voiced *= np.float32(FULL_SCALE * 10 ** (spec.level_dbfs / 20) / max(rms, 1e-9))
    voiced.flags.writeable = False
    return voiced


class _WaveCache:
    """Waveforms shared between calls (500 calls of one scenario synthesise it once), bounded in bytes."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._size = 0
        self._waves: OrderedDict[WaveSpec, np.ndarray] = OrderedDict()

    def get(self, spec: WaveSpec) -> np.ndarray:
        wave = self._waves.get(spec)
        if wave is not None:
            self._waves.move_to_end(spec)
            return wave
        wave = _synthesize(spec)
        self._waves[spec] = wave
        self._size += wave.nbytes
        while self._size > self._budget and len(self._waves) > 1:
            _, old = self._waves.popitem(last=False)
            self._size -= old.nbytes
        return wave


WAVES = _WaveCache(_WAVE_CACHE_BYTES)
