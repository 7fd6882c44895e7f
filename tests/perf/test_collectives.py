import math

import numpy as np
import pytest

from inferplan.catalog.hardware import get_hardware
from inferplan.perf.collectives import (
    collective_latency_s,
    collective_steps,
    communication_s,
    row_split_latency_s,
)
from inferplan.perf.estimate import plan_estimate


def test_pcie_peers_pay_ring_all_reduce_steps():
    """Ring links: 2(n-1) latencies per all-reduce, n-1 per all-to-all; switched: ceil(log2 n)."""

    pcie, nvswitch = get_hardware("l40s").scale_up, get_hardware("h100-sxm").scale_up
    assert pcie is not None and nvswitch is not None and pcie.ring_collectives
    assert collective_steps(pcie, 8, "all_reduce") == 14 and collective_steps(pcie, 8, "all_to_all") == 7
    assert collective_steps(nvswitch, 8, "all_reduce") == 3 and collective_steps(nvswitch, 1, "all_reduce") == 0


def test_row_split_gathers_every_matmul_on_the_main_device():
    """llama.cpp's row split pays host launches on every device for each of its 7 mat-muls per
    layer: the latency grows linearly with tp, where vLLM's all-reduce grows with log2(tp)."""
    from inferplan.catalog.engines import get_engine

    split = get_engine("llama.cpp").layout.row_split
    assert split is not None and get_engine("vllm").layout.row_split is None
    kw = dict(precision="q4_0", batch=1, input_len=8, output_len=256, tp=8, pp=1, devices=8)
    cpp = plan_estimate("llama-2-70b", "a100-pcie-80g", engine="llama.cpp", **kw)
    link = cpp.dep.tp_link
    two, eight = (row_split_latency_s(split, 80, tp, link) for tp in (2, 8))
    per_matmul = split.launches_per_device * split.launch_s
    assert math.isclose(two, 80 * split.matmuls_per_layer * (2 * per_matmul + link.latency_s))
    assert eight > 3.5 * two
    lat = float(np.sum(cpp.works["decode"].t_link_latency))
    assert math.isclose(lat, eight, rel_tol=1e-9)
    vllm = plan_estimate("llama-2-70b", "a100-pcie-80g", engine="vllm", **{**kw, "precision": "awq"})
    assert float(np.sum(vllm.works["decode"].t_link_latency)) < lat / 3


def test_pcie_cards_past_their_nvlink_bridge_talk_over_pcie_rings_inside_the_server():
    """An A100 PCIe pair shares an NVLink bridge; TP4/TP8 in one server crosses PCIe (ring
    all-reduce, 2(n-1) latencies), not the scale-out NIC; 16 GPUs leave the server."""

    def link(n: int):
        return plan_estimate("llama-2-70b", "a100-pcie-80g", engine="vllm", precision="fp16",
                             devices=n, tp=n, batch=1, input_len=8, output_len=16).dep.tp_link

    assert "NVLink bridge" in link(2).name
    assert "PCIe" in link(8).name and link(8).ring_collectives
    assert collective_steps(link(8), 8, "all_reduce") == 14
    big = plan_estimate("llama-3.1-405b", "a100-pcie-80g", engine="vllm", precision="fp16",
                        devices=16, tp=16, batch=1, input_len=8, output_len=16).dep
    assert "InfiniBand" in big.tp_link.name


def test_neuron_all_reduce_steps_around_the_inf2_ring_one_hop_per_neuroncore():
    """Inf2 chips sit on a NeuronLink ring and Neuron runs one TP rank per NeuronCore: a
    12-chip all-reduce steps through 24 ranks, 2 x 23 hops (not log2 of the chips), so decode
    pays 46 hop latencies per all-reduce; vLLM on 8 H100s (NVSwitch, a rank per GPU) pays 3."""

    inf2 = plan_estimate("llama-2-7b", "inferentia2", devices=12, tp=12, batch=1, input_len=8,
                         output_len=16).dep
    assert inf2.collective_ranks == 24 and inf2.tp_link.ring_collectives
    assert collective_steps(inf2.tp_link, inf2.collective_ranks, "all_reduce") == 46
    h100 = plan_estimate("llama-2-7b", "h100-sxm", engine="vllm", devices=8, tp=8, batch=1,
                         input_len=8, output_len=16).dep
    assert h100.collective_ranks == 8
    assert collective_steps(h100.tp_link, h100.collective_ranks, "all_reduce") == 3


def test_trainium_collectives_step_around_neurons_ring_and_kangaring():
    """Neuron's Ring runs over every rank of a Trainium1 torus (2 NeuronCores per chip: 16 chips,
    32 ranks, 2 x 31 hops); Trainium2's KangaRing puts only one primary of each pair of its 4
    LNC=2 ranks in the cycle (2 per chip: 4 chips, 8 members, 2 x 7 hops), halving Ring's hops."""

    def dep(hw: str, n: int):
        return plan_estimate("llama-3.1-8b", hw, devices=n, tp=n, batch=1, input_len=8,
                             output_len=16).dep

    trn1, trn2 = dep("trainium1", 16), dep("trainium2", 4)
    assert trn1.collective_ranks == 32 and trn1.tp_link.ring_collectives
    assert collective_steps(trn1.tp_link, trn1.collective_ranks, "all_reduce") == 62
    assert trn2.collective_ranks == 8 and trn2.tp_link.ring_collectives
    latency_s = float(communication_s(trn2, np.ones(1), np.zeros(1))[1][0])
    assert latency_s == pytest.approx(2 * 32 * trn2.tp_link.latency_s * 2 * 7)
    # vLLM on Trainium2 (no per-core padding): one rank per chip, the ring over the chips
    assert plan_estimate("llama-3.1-8b", "trainium2", engine="vllm", devices=4, tp=4, batch=1,
                         input_len=8, output_len=16).dep.collective_ranks == 4


def test_a_pcie_ring_pays_one_message_then_nccls_per_hop_latency():
    """NCCL's ring over PCIe peers: one message (launch and base latency, the catalog's 10 us)
    and 1.0 us for each further step (nccl tuning.cc hwLat PCI Ring LL): TP8's 14 steps cost
    10 + 13 us, not 14 x 10 us. Neuron's rings keep a full hop latency per step; switched
    fabrics ceil(log2 n) messages."""
    pcie = get_hardware("l40s").scale_up
    assert pcie is not None and pcie.hop_latency_s == pytest.approx(1e-6)
    assert collective_latency_s(pcie, 8, "all_reduce") == pytest.approx(10e-6 + 13 * 1e-6)
    assert collective_latency_s(pcie, 2, "all_reduce") == pytest.approx(11e-6)
    assert collective_latency_s(pcie, 8, "all_to_all") == pytest.approx(10e-6 + 6 * 1e-6)
    assert collective_latency_s(pcie, 1, "all_reduce") == 0.0
    inf2 = get_hardware("inferentia2").scale_up
    assert inf2 is not None and inf2.hop_latency_s is None
    assert collective_latency_s(inf2, 24, "all_reduce") == pytest.approx(46 * inf2.latency_s)
    nvswitch = get_hardware("h100-sxm").scale_up
    assert nvswitch is not None
    assert collective_latency_s(nvswitch, 8, "all_reduce") == pytest.approx(3 * nvswitch.latency_s)
    # TP8 Llama-2-70B decode on L40S pays 160 all-reduces of 23 us each (at the catalog's figures)
    dep = plan_estimate("llama-2-70b", "l40s", engine="vllm", precision="fp8", devices=8, tp=8,
                        batch=1, input_len=8, output_len=16).dep
    latency_s = float(communication_s(dep, np.ones(1), np.zeros(1))[1][0])
    assert latency_s == pytest.approx(160 * 23e-6)
