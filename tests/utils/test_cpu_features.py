"""Native bfloat16 on the CPU: the flags that mean it (x86 and Arm ``/proc/cpuinfo`` text), the
``MMTNT_CPU_BF16`` override, the warning of AutocastOptimWrapper and the refusal of
``tools/train.py --amp`` on a CPU without it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mmtnt.engine.amp as amp_module
from mmtnt.engine import AutocastOptimWrapper
from mmtnt.utils import cpu_bf16_missing, cpu_bf16_support
from mmtnt.utils.cpu_features import ENV_OVERRIDE, bf16_support_from_flags, parse_cpuinfo

from helpers import ROOT

ZEN3 = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC 7B13
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr \
sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl \
nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 \
sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy \
cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext ssbd ibrs ibpb stibp vmmcall \
fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb \
sha_ni xsaveopt xsavec xgetbv1 xsaves clzero xsaveerptr rdpru arat npt nrip_save umip vaes \
vpclmulqdq rdpid fsrm
bogomips	: 4899.99

processor	: 1
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7B13
flags		: fpu avx2
"""
SAPPHIRE_RAPIDS = """processor	: 0
model name	: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags		: fpu sse2 avx avx2 avx512f avx512dq avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 \
amx_tile amx_int8
"""
ZEN4 = """processor	: 0
model name	: AMD EPYC 9B14
flags		: fpu avx2 avx512f avx512_bf16 avx512_vnni
"""
CASCADE_LAKE = """processor	: 0
model name	: Intel(R) Xeon(R) CPU @ 2.80GHz
flags		: fpu avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni
"""
GRAVITON3 = """processor	: 0
BogoMIPS	: 2100.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca \
pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng
CPU implementer	: 0x41
CPU part	: 0xd40
"""
GRAVITON2 = """processor	: 0
BogoMIPS	: 243.75
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
lrcpc dcpop asimddp ssbs
CPU implementer	: 0x41
"""


@pytest.fixture
def fresh_detection(monkeypatch):
    """cpu_bf16_support is cached: cleared before and after the test (the override changes)."""
    cpu_bf16_support.cache_clear()
    yield monkeypatch
    monkeypatch.delenv(ENV_OVERRIDE, raising=False)
    cpu_bf16_support.cache_clear()


def test_cpuinfo_is_parsed():
    info = parse_cpuinfo(ZEN3)
    assert info['model'] == 'AMD EPYC 7B13'
    assert {'avx2', 'fma', 'sse4_2', 'fsrm'} <= info['flags'] and 'avx512f' not in info['flags']
    assert len(info['flags']) == 97  # the first processor's line, not the second one's
    arm = parse_cpuinfo(GRAVITON3)
    assert arm['model'] == '' and {'bf16', 'svebf16', 'sve'} <= arm['flags']
    assert parse_cpuinfo('') == dict(model='', flags=set())


@pytest.mark.parametrize('text, machine, native, found', [
    (ZEN3, 'x86_64', False, None),
    (CASCADE_LAKE, 'x86_64', False, None),  # AVX-512 without its bfloat16 instructions
    (ZEN4, 'x86_64', True, 'avx512_bf16'),
    (SAPPHIRE_RAPIDS, 'x86_64', True, 'avx512_bf16'),
    (GRAVITON3, 'aarch64', True, 'bf16'),
    (GRAVITON2, 'aarch64', False, None),
], ids=['zen3', 'cascade_lake', 'zen4', 'sapphire_rapids', 'graviton3', 'graviton2'])
def test_native_bf16_from_flags(text, machine, native, found):
    info = parse_cpuinfo(text)
    ok, message = bf16_support_from_flags(info['flags'], machine, info['model'])
    assert ok == native, message
    if native:
        assert f'has {found}' in message
    elif machine == 'x86_64':
        assert message == (f'this CPU ({info["model"]}) lacks avx512_bf16 / amx_bf16: bfloat16 '
                           f'runs emulated, hundreds of times slower than float32')
    else:
        assert 'this CPU (aarch64) lacks bf16' in message and 'emulated' in message


def test_amx_alone_is_native():
    assert bf16_support_from_flags({'avx2', 'amx_bf16'}, 'x86_64')[0]
    assert not bf16_support_from_flags({'bf16'}, 'x86_64')[0]  # Arm's name means nothing on x86
    assert not bf16_support_from_flags({'avx512_bf16'}, 'riscv64')[0]


def test_this_machine_agrees_with_its_cpuinfo(fresh_detection):
    fresh_detection.delenv(ENV_OVERRIDE, raising=False)
    native, message = cpu_bf16_support()
    assert isinstance(native, bool) and message.startswith('this CPU (')
    assert cpu_bf16_missing() == (None if native else message)
    if os.path.exists('/proc/cpuinfo'):
        flags = parse_cpuinfo(Path('/proc/cpuinfo').read_text())['flags']
        if flags & {'avx512_bf16', 'amx_bf16', 'bf16'}:
            assert native


@pytest.mark.parametrize('value', ['0', '1'])
def test_the_override(fresh_detection, value):
    fresh_detection.setenv(ENV_OVERRIDE, value)
    native, message = cpu_bf16_support()
    assert native == (value == '1') and f'{ENV_OVERRIDE}={value}' in message
    assert (cpu_bf16_missing() is None) == (value == '1')


@pytest.mark.parametrize('value', ['0', '1'])
def test_autocast_wrapper_warns_about_emulated_bf16(fresh_detection, value):
    fresh_detection.setenv(ENV_OVERRIDE, value)
    logged = []
    fresh_detection.setattr(amp_module, 'print_log',
                            lambda msg, logger=None, level=20: logged.append((msg, level)))
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    wrapper = AutocastOptimWrapper(optimizer=optimizer, device_type='cpu')
    assert wrapper.cast_dtype == torch.bfloat16
    AutocastOptimWrapper(optimizer=optimizer, device_type='cpu', dtype='float16')  # no warning
    if value == '1':
        assert logged == []
    else:
        assert len(logged) == 1 and logged[0][1] == 30
        assert f'{ENV_OVERRIDE}=0' in logged[0][0] and 'bfloat16 would run emulated' in logged[0][0]


@pytest.mark.slow
def test_train_amp_is_refused_without_native_bf16(tmp_path):
    """tools/train.py --amp with no CUDA on a CPU without native bfloat16: a ValueError that says
    what is missing and what to do, before anything is built."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', **{ENV_OVERRIDE: '0'})
    proc = subprocess.run([sys.executable, 'tools/train.py', 'configs/toy/retinanet_tnt_toy.py',
                           '--amp', '--work-dir', str(tmp_path / 'work')], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'ValueError: --amp without CUDA trains under bfloat16 autocast' in proc.stderr, \
        proc.stderr[-3000:]
    assert f'{ENV_OVERRIDE}=0' in proc.stderr and 'bfloat16 would run emulated' in proc.stderr
    assert 'Train without --amp' in proc.stderr
    assert not list((tmp_path / 'work').glob('*/*.log'))  # no run started
