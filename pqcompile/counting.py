"""How `pqcompile bench` reads instructions on a target: on QEMU Cortex-M boards (-icount) which
timer, how many instructions per tick, how many phases make a count exact; on the Linux user-mode
targets (qemu-aarch64, qemu-arm) the pq_icount TCG plugin (pqcompile/qemu_plugin.py), which logs
exact counts at labelled points, one phase (pqcompile/compiler/bench.py, firmware/apps/pqrnn_bench.c).
No TVM here: a target that cannot count fails at once."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .errors import PqError
from .qemu_plugin import can_count as plugin_can_count
from .targets import Target

MAX_PHASES = 200
MARK_INSNS = 8          # a profiling mark on a timer target: PQ_PROFILE_MARK_INSNS in firmware/apps/pq_profile.h
PLUGIN_MARK_INSNS = 1   # a mark under the plugin: one nop at a local label (pq_profile.h, PQ_BENCH_PLUGIN)


@dataclass(frozen=True)
class Counter:
    """How the bench program reads instructions on a target."""

    defines: dict
    tick_ns: Fraction      # instructions per timer tick
    phases: int            # runs per measurement: the numerator of tick_ns
    name: str
    plugin: bool = False   # counted by the pq_icount TCG plugin (Linux user mode), not a timer

    @property
    def mark_insns(self) -> int:
        """Instructions of one profiling mark."""
        return PLUGIN_MARK_INSNS if self.plugin else MARK_INSNS

    def insns(self, ticks: int) -> Fraction:
        """Instructions for a sum of tick differences over all phases."""
        return Fraction(ticks) * self.tick_ns / self.phases

    def whole_insns(self, ticks: int) -> tuple[Fraction, bool]:
        """(instructions, misread): the count rounded to the whole instruction when it is within one
        tick of the sum (tick / phases) of one, for a timer whose tick is a fraction of nanoseconds
        (SysTick at 32 MHz on the mps3-an547: 31.25). Measured there: a 407-instruction count read
        14 ticks in 4 of its 125 phases where an even spread gives 3 (sum 1,629 ticks for 4 x 407);
        either QEMU's ptimer rounds a fractional period's reading or the phases are not spread
        evenly in QEMU's time (not pinned down). So the sum can be one tick off a whole count;
        misread says it was. Anything further off is returned as it is (not whole: the bench
        checks fail)."""
        x = self.insns(ticks)
        if x.denominator == 1 or self.tick_ns.denominator == 1:
            return x, False
        near = Fraction(round(x))
        return (near, True) if abs(x - near) <= self.tick_ns / self.phases else (x, False)


def counter_of(target: Target) -> Counter:
    """The counter the bench program reads on `target`; PqError (one line) when it has none."""
    defines = dict(target.defines)
    if plugin_can_count(target):
        return Counter({"PQ_BENCH_PLUGIN": None, "PQ_BENCH_PHASES": 1}, Fraction(1), 1,
                       f"{target.emulator} user mode with the pq_icount TCG plugin (every executed "
                       f"instruction counted)", plugin=True)
    if not target.counts_instructions:
        why = ("it runs natively" if target.kind == "host" else
               "it is a hardware board without an emulator" if not target.runnable else
               f"its {target.kind} emulator has no instruction counter")
        raise PqError(f"target {target.name} cannot count instructions ({why}); bench needs a QEMU "
                      f"Cortex-M board run with -icount, e.g. cortex-m7 or cortex-m4, or a QEMU user-mode "
                      f"Linux target, cortex-a53 or cortex-a7")
    if "cortex-m/counter_cmsdk.c" in target.firmware and "PQ_CMSDK_TIMER_BASE" in defines:
        tick = Fraction(int(defines.get("PQ_CMSDK_NS_PER_TICK", "0").rstrip("uU") or 0))
        c_defines = {"PQ_BENCH_CMSDK_BASE": defines["PQ_CMSDK_TIMER_BASE"]}
        name = f"CMSDK timer at {defines['PQ_CMSDK_TIMER_BASE']}"
    elif "cortex-m/counter_systick.c" in target.firmware and "PQ_CPU_CLOCK_HZ" in defines:
        tick = Fraction(10**9, int(defines["PQ_CPU_CLOCK_HZ"].rstrip("uU")))
        c_defines = {"PQ_BENCH_SYSTICK": None}
        name = "SysTick"
    elif "boards/stm32f4/counter_tim2.c" in target.firmware and "PQ_TIM2_NS_PER_TICK" in defines:
        tick = Fraction(int(defines["PQ_TIM2_NS_PER_TICK"].rstrip("uU")))
        c_defines = {"PQ_BENCH_TIM2": None}
        name = "STM32 TIM2"
    else:
        raise PqError(f"target {target.name}: bench reads a CMSDK timer, SysTick or STM32 TIM2, and its platform "
                      f"layer ({', '.join(target.firmware)}) uses none of them")
    if tick <= 0 or tick.numerator > MAX_PHASES:
        raise PqError(f"target {target.name}: a timer tick of {float(tick):g} instructions needs "
                      f"{tick.numerator} phases (bench takes at most {MAX_PHASES})")
    return Counter({**c_defines, "PQ_BENCH_PHASES": tick.numerator}, tick, tick.numerator,
                   f"{name}, {float(tick):g} instructions per tick, {tick.numerator} phases")
