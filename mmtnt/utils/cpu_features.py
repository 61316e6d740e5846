"""Whether this CPU computes bfloat16 natively.

Without native instructions PyTorch runs bfloat16 on a CPU through emulated kernels: on an AMD
EPYC Zen 3 (AVX2, no ``avx512_bf16`` / AMX) one 2048x2048 bfloat16 matmul took 139 s against
0.6 s in float32. Whatever would run bfloat16 autocast on a CPU (``tools/train.py --amp``,
``tools/gpu_check.py --device cpu``) asks here first.

Native means, on x86, the ``avx512_bf16`` or ``amx_bf16`` instructions; on Arm (aarch64), the
``bf16`` (or SVE ``svebf16``) feature. The flags come from ``/proc/cpuinfo`` (Linux) and from
torch's own detection (``torch.cpu.get_capabilities()``, where this torch has it).

The environment variable ``MMTNT_CPU_BF16`` overrides the detection: ``1`` reports native
bfloat16, ``0`` reports none (tests use it to rehearse either kind of CPU).

This module needs only the standard library (torch where importable), so that
``tools/gpu_check.py`` can load it before mmtnt is installed.
"""
import os
import platform
from functools import lru_cache
from typing import Dict, Iterable, Optional, Set, Tuple

ENV_OVERRIDE = 'MMTNT_CPU_BF16'
# the instructions that compute bfloat16 natively, by architecture (Linux's flag names; torch's
# capability names where they differ)
NATIVE_BF16 = {
    'x86': ('avx512_bf16', 'amx_bf16'),
    'arm': ('bf16', 'svebf16', 'sve_bf16'),
}


def parse_cpuinfo(text: str) -> Dict[str, object]:
    """The model name and the feature flags of the first processor in ``/proc/cpuinfo`` text.

    Args:
        text: the contents of ``/proc/cpuinfo`` (x86: ``model name`` and ``flags`` lines;
            aarch64: ``Features`` and, where present, ``model name`` / ``CPU part`` lines).

    Returns:
        dict: ``model`` (str, '' when the text has none) and ``flags`` (set of str).
    """
    model, flags = '', set()
    for line in text.splitlines():
        key, sep, value = line.partition(':')
        if not sep:
            continue
        key = key.strip().lower()
        if key in ('flags', 'features') and not flags:
            flags = set(value.split())
        elif key in ('model name', 'hardware', 'processor') and not model \
                and not value.strip().isdigit():  # x86's "processor : 0" is an index
            model = value.strip()
    return dict(model=model, flags=flags)


def _arch(machine: str) -> str:
    machine = machine.lower()
    if machine in ('x86_64', 'amd64', 'i386', 'i686', 'x86'):
        return 'x86'
    if machine.startswith(('aarch64', 'arm')):
        return 'arm'
    return machine


def bf16_support_from_flags(flags: Iterable[str], machine: str,
                            model: str = '') -> Tuple[bool, str]:
    """Whether a CPU with these feature flags computes bfloat16 natively, and why.

    Args:
        flags: the CPU's feature flags (``/proc/cpuinfo`` or torch capability names).
        machine: ``platform.machine()`` of the CPU (``x86_64``, ``aarch64``, ...).
        model: the CPU's name, for the message.

    Returns:
        tuple[bool, str]: ``(native, message)``; the message names the instruction found or,
        without one, the instructions missing and what that costs.
    """
    flags = set(flags)
    arch = _arch(machine)
    name = f'this CPU ({model})' if model else f'this CPU ({machine})'
    wanted = NATIVE_BF16.get(arch)
    if wanted is None:
        return False, (f'{name} is neither x86 nor Arm: no native bfloat16 instructions known '
                       f'for it; bfloat16 likely runs emulated, far slower than float32')
    found = [f for f in wanted if f in flags]
    if found:
        return True, f'{name} has {found[0]}: bfloat16 runs natively'
    missing = ' / '.join(wanted[:2])
    return False, (f'{name} lacks {missing}: bfloat16 runs emulated, hundreds of times slower '
                   f'than float32')


def _torch_flags() -> Set[str]:
    try:
        import torch
        capabilities = torch.cpu.get_capabilities()
    except Exception:  # noqa: BLE001  no torch, or one without get_capabilities: cpuinfo only
        return set()
    return {k for k, v in capabilities.items() if v is True}


def _read_cpuinfo() -> Optional[str]:
    try:
        with open('/proc/cpuinfo') as f:
            return f.read()
    except OSError:
        return None


@lru_cache(None)
def cpu_bf16_support() -> Tuple[bool, str]:
    """Whether this CPU computes bfloat16 natively (cached; ``MMTNT_CPU_BF16`` overrides it).

    Returns:
        tuple[bool, str]: ``(native, message)``: e.g. ``(False, 'this CPU (AMD EPYC 7B13 64-Core
        Processor) lacks avx512_bf16 / amx_bf16: bfloat16 runs emulated, hundreds of times
        slower than float32')``.
    """
    info = parse_cpuinfo(_read_cpuinfo() or '')
    machine = platform.machine()
    model = info['model'] or platform.processor()
    override = os.environ.get(ENV_OVERRIDE, '').strip()
    if override in ('0', '1'):
        native = override == '1'
        wanted = ' / '.join(NATIVE_BF16.get(_arch(machine), NATIVE_BF16['x86'])[:2])
        return native, (f'this CPU ({model or machine}) is taken to '
                        f'{"have" if native else "lack"} {wanted} ({ENV_OVERRIDE}={override})'
                        + ('' if native else ': bfloat16 would run emulated, hundreds of times '
                           'slower than float32'))
    return bf16_support_from_flags(info['flags'] | _torch_flags(), machine, model)


def cpu_bf16_missing() -> Optional[str]:
    """The message naming the missing bfloat16 instructions, or None where the CPU has them."""
    native, message = cpu_bf16_support()
    return None if native else message


def cpu_name() -> str:
    """This CPU's model name (``/proc/cpuinfo``), else ``platform.processor()`` or the
    machine type: for logs beside timings."""
    return parse_cpuinfo(_read_cpuinfo() or '')['model'] or platform.processor() \
        or platform.machine()
