"""Parallel layouts: tensor (tp), pipeline (pp), expert (ep) and data (dp) parallelism.

A *replica* is one copy of the model: ``pp`` stages, each of ``max(tp, ep)`` devices. Attention
and dense weights are split ``tp`` ways; routed experts are split over all ``max(tp, ep)`` devices
of a stage. When ``ep > tp`` the attention runs data-parallel inside the stage
(``attn_dp = ep / tp``; "attention-DP + EP", as DeepSeek and TensorRT-LLM serve MoE models).
"""

from __future__ import annotations

from dataclasses import dataclass

from inferplan.catalog.schema import EngineSpec, HardwareSpec
from inferplan.errors import LayoutError
from inferplan.models.spec import ModelSpec


@dataclass(frozen=True)
class Layout:
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1

    @property
    def stage_devices(self) -> int:
        return max(self.tp, self.ep)

    @property
    def replica_devices(self) -> int:
        return self.pp * self.stage_devices

    @property
    def devices(self) -> int:
        return self.dp * self.replica_devices

    @property
    def attn_dp(self) -> int:
        return self.stage_devices // self.tp

    @property
    def expert_shards(self) -> int:
        return self.stage_devices

    def experts_per_device(self, num_experts: int) -> int:
        """Routed experts on the most loaded device: ceil(E / shards) (uneven placement)."""
        return -(-num_experts // self.expert_shards)


def check_layout(model: ModelSpec, layout: Layout) -> None:
    """Raise LayoutError for layouts no engine can run, saying why and what would work."""
    for name in ("tp", "pp", "ep", "dp"):
        if getattr(layout, name) < 1:
            raise LayoutError(f"{name} must be >= 1")
    mixers = [g.mixer for g in model.groups if g.mixer.kind in ("attention", "mla")]
    tp = layout.tp
    for m in mixers:
        if m.num_q_heads % tp:
            ok = [d for d in range(1, m.num_q_heads + 1) if m.num_q_heads % d == 0 and d <= 64]
            raise LayoutError(
                f"tp={tp} must divide the {m.num_q_heads} attention heads of {model.id} "
                f"(valid tp: {', '.join(map(str, ok))})"
            )
        if m.kind == "attention" and m.num_kv_heads % tp and tp % m.num_kv_heads:
            raise LayoutError(
                f"tp={tp} must divide the {m.num_kv_heads} KV heads of {model.id} or be a "
                f"multiple of it (KV heads are then replicated)"
            )
    if layout.pp > model.num_layers:
        raise LayoutError(f"pp={layout.pp} exceeds the {model.num_layers} layers of {model.id}")
    if layout.ep > 1:
        moe = [g.ffn for g in model.groups if g.ffn.kind == "moe"]
        if not moe:
            raise LayoutError(f"ep={layout.ep} needs a mixture-of-experts model; {model.id} is dense")
        n_exp = moe[0].num_experts
        if layout.ep > n_exp:
            raise LayoutError(f"ep={layout.ep} exceeds the {n_exp} experts of {model.id}")
        # ep need not divide the experts: engines place them unevenly or replicate the hot ones
        # (EP48 / EP72 over 256 experts); each device holds ceil(experts / ep) of them.
        if layout.ep % layout.tp and layout.tp % layout.ep:
            raise LayoutError(f"ep={layout.ep} and tp={tp} must divide one another")


def valid_tps(model: ModelSpec, limit: int) -> list[int]:
    """Tensor-parallel degrees (powers of two up to `limit`) that `model` admits: what vLLM,
    SGLang and TensorRT-LLM deploy (they must divide the attention heads; the KV heads are
    split or replicated)."""
    out = []
    t = 1
    while t <= limit:
        try:
            check_layout(model, Layout(tp=t))
            out.append(t)
        except LayoutError:
            pass
        t *= 2
    return out or [1]


# Classes that serve one model across a scale-out network (several nodes / systems).
MULTI_NODE_CLASSES = ("gpu", "tpu", "asic", "wafer", "lpu")


def scale_up_domain(hw: HardwareSpec) -> int:
    """Devices one tensor-parallel group may span on `hw`."""
    if hw.hw_class == "wafer":
        return 1  # Cerebras pipelines whole layers across wafers; no tensor parallelism
    if hw.sram_only:
        return 16  # SRAM chips shard each layer over one or two GroqNodes (8 chips each)
    return hw.scale_up.domain_devices if hw.scale_up else 1


def engine_layouts(model: ModelSpec, hw: HardwareSpec, engine: EngineSpec, pp_min: dict[int, int],
                   devices: int | None = None) -> list[Layout]:
    """The layouts `engine` would run `model` on, per its layout policy (docs/model.md, 3).

    ``pp_min[tp]`` is the fewest pipeline stages whose weights fit at that TP. Policies:

    - ``across_nodes`` (vLLM, SGLang, TensorRT-LLM): TP in powers of two inside the scale-up
      domain, no pipeline; pipeline stages only when the model does not fit one domain at the
      largest TP (then one stage per node).
    - ``layer_split`` (llama.cpp ``--split-mode layer``, transformers ``device_map``): no TP; each
      device holds a contiguous share of the layers, used one after another (``pp`` stages, one
      micro-batch in flight) inside one machine.
    - ``native`` (wafers, LPUs): TP inside the domain and as many pipeline stages as needed.
    """
    pol = engine.layout
    domain = scale_up_domain(hw)
    max_tp = min(domain, pol.max_tp or domain)
    tps = valid_tps(model, max_tp)
    multi_node = hw.hw_class in MULTI_NODE_CLASSES
    limit = devices or (10**6 if multi_node else domain)
    out: list[Layout] = []
    if pol.pipeline == "layer_split":
        for pp in range(max(1, pp_min.get(1, 1)), min(model.num_layers, domain, limit) + 1):
            out.append(Layout(tp=1, pp=pp))
        return out
    if pol.pipeline == "native":
        extra = 8 if hw.sram_only else 4
        for tp in tps:
            lo = pp_min.get(tp, 1)
            out += [Layout(tp=tp, pp=pp) for pp in range(lo, min(model.num_layers, lo + extra) + 1)
                    if tp * pp <= limit]
        return out
    for tp in tps:
        if pp_min.get(tp, 1) == 1 and tp <= limit:
            out.append(Layout(tp=tp))
    top = tps[-1]
    lo = pp_min.get(top, 1)
    if multi_node and lo <= model.num_layers:
        out += [Layout(tp=top, pp=pp) for pp in range(max(2, lo), min(model.num_layers, max(2, lo) + 3) + 1)
                if top * pp <= limit]
    return out
