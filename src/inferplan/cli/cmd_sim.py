"""`inferplan simulate`, `inferplan plan`, `inferplan loadtest`: parse, call the library, print.

Imports stay light (typer only); the simulator, planner and load tester load inside commands.
Exit codes: 0 success; 1 a negative answer (SLO missed, nothing feasible, does not fit);
2 bad input.
"""

from __future__ import annotations

from typing import Annotated

import typer

from inferplan.cli.options import (
    CalibOpt,
    CvOpt,
    EngineOpt,
    EngineOptionOpt,
    EpOpt,
    HostOpt,
    HwFileOpt,
    InOpt,
    JsonOpt,
    KvPrecisionOpt,
    OffloadOpt,
    OutOpt,
    P50E2e,
    P50Tpot,
    P50Ttft,
    P90E2e,
    P90Tpot,
    P90Ttft,
    P99E2e,
    P99Tpot,
    P99Ttft,
    PpOpt,
    PrecisionOpt,
    RateOpt,
    SeedOpt,
    SlotsOpt,
    ThinkOpt,
    ThreadsOpt,
    TpOpt,
    UsersOpt,
    WorkloadOpt,
    duration,
    number,
)
from inferplan.errors import InputError
from inferplan.inputs import LIMITS

MAX_REQUESTS = int(LIMITS["requests"])
MAX_REPLICAS = int(LIMITS["replicas"])


def _workload(spec: str, rate, cv, users, think, input_len, output_len):
    from inferplan.sim.workload import load_workload, with_overrides

    w = load_workload(spec)
    return with_overrides(w, rate=rate, cv=cv, users=users, think_time_s=think,
                          input_len=input_len, output_len=output_len)


def _split(s: str | None, flag: str = "") -> list[str] | None:
    """Comma-separated ids; None when the flag is not given (an empty value names nothing: an
    error, not 'everything')."""
    if s is None:
        return None
    ids = [x.strip() for x in s.split(",") if x.strip()]
    if not ids:
        from inferplan.errors import InputError

        raise InputError(f"{flag or 'the option'} {s!r} names no ids")
    return ids


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        model: Annotated[str, typer.Option("--model", "-m", help="Catalog model id/alias or config.json")],
        hardware: Annotated[str, typer.Option("--hardware", "-H", help="Hardware of the replicas (prefill pool with --decode-hardware)")],
        workload: WorkloadOpt = "chat",
        rate: RateOpt = None,
        cv: CvOpt = None,
        users: UsersOpt = None,
        think_time: ThinkOpt = None,
        input_len: InOpt = None,
        output_len: OutOpt = None,
        requests: Annotated[int, typer.Option("--requests", "-n", min=1, max=MAX_REQUESTS, help="Requests to simulate")] = 1000,
        seed: SeedOpt = 0,
        replicas: Annotated[int, typer.Option("--replicas", min=1, max=MAX_REPLICAS, help="Replicas behind the router")] = 1,
        router: Annotated[str, typer.Option("--router", help="round_robin | least_outstanding_tokens")] = "least_outstanding_tokens",
        devices: Annotated[int | None, typer.Option("--devices", min=1, max=int(LIMITS["devices"]), help="Devices per replica (default: fewest holding 16 sequences)")] = None,
        tp: TpOpt = None,
        pp: PpOpt = None,
        ep: EpOpt = None,
        precision: PrecisionOpt = None,
        kv_precision: KvPrecisionOpt = None,
        engine: EngineOpt = None,
        threads: ThreadsOpt = None,
        offload: OffloadOpt = None,
        host: HostOpt = None,
        slots: SlotsOpt = None,
        engine_option: EngineOptionOpt = None,
        policy: Annotated[str | None, typer.Option("--scheduler", help="continuous | serial (default: from the engine)")] = None,
        max_num_seqs: Annotated[int | None, typer.Option("--max-num-seqs", min=1, max=int(LIMITS["batch"]))] = None,
        max_num_batched_tokens: Annotated[int | None, typer.Option("--max-num-batched-tokens", min=1, max=int(LIMITS["tokens"]))] = None,
        no_chunked_prefill: Annotated[bool, typer.Option("--no-chunked-prefill")] = False,
        prefill_first: Annotated[bool | None, typer.Option(
            "--prefill-first/--mixed-steps", help="Waiting prompts run in steps of their own, "
            "decodes paused (SGLang, vLLM V0), or ride in the decode steps (vLLM V1); default: "
            "the engine's")] = None,
        kv_reservation: Annotated[str | None, typer.Option(
            "--kv-reservation", help="on_demand: KV blocks taken as tokens arrive, preempting "
            "when they run out (vLLM, SGLang); full_sequence: admit only while every admitted "
            "request's prompt + output fits (TensorRT-LLM GUARANTEED_NO_EVICT); default: the "
            "engine's")] = None,
        block_size: Annotated[int | None, typer.Option("--block-size", min=1, max=65536, help="KV block tokens (default: the engine's page: vLLM 16, TensorRT-LLM 32, SGLang 1)")] = None,
        prefix_caching: Annotated[bool, typer.Option("--prefix-caching")] = False,
        kv_blocks: Annotated[int | None, typer.Option("--kv-blocks", min=1, max=10**9, help="Override the KV blocks per replica, in pages of --block-size tokens (default: the engine's page)")] = None,
        decode_hardware: Annotated[str | None, typer.Option("--decode-hardware", help="Disaggregate: decode pool hardware")] = None,
        decode_devices: Annotated[int | None, typer.Option("--decode-devices", min=1, max=int(LIMITS["devices"]))] = None,
        decode_tp: Annotated[int | None, typer.Option("--decode-tp", min=1, max=int(LIMITS["parallel"]))] = None,
        decode_pp: Annotated[int | None, typer.Option("--decode-pp", min=1, max=int(LIMITS["parallel"]))] = None,
        decode_ep: Annotated[int | None, typer.Option("--decode-ep", min=1, max=int(LIMITS["parallel"]), help="Decode pool's expert parallelism (with --decode-tp 1: data-parallel attention)")] = None,
        decode_replicas: Annotated[int, typer.Option("--decode-replicas", min=1, max=MAX_REPLICAS)] = 1,
        p50_ttft: P50Ttft = None, p90_ttft: P90Ttft = None, p99_ttft: P99Ttft = None,
        p50_tpot: P50Tpot = None, p90_tpot: P90Tpot = None, p99_tpot: P99Tpot = None,
        p50_e2e: P50E2e = None, p90_e2e: P90E2e = None, p99_e2e: P99E2e = None,
        warmup: Annotated[float, typer.Option("--warmup", parser=number("--warmup", 0.99, lo_open=False), help="Share of arrivals left out of percentiles (0 to 0.99)")] = 0.0,
        timeline: Annotated[bool, typer.Option("--timeline", help="Keep the timeline in --json output")] = False,
        calibration: CalibOpt = None,
        hardware_file: HwFileOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Simulate a workload on replicas of one configuration (or a prefill/decode pair).

        Exit 1 when no request was served or the SLO is missed; warns when the system is
        overloaded (requests queue for longer than they are served)."""
        from inferplan.catalog.engines import parse_engine_options
        from inferplan.inputs import build
        from inferplan.sim import SLO, DeploymentSpec, SchedulerConfig
        from inferplan.sim import simulate as run_sim

        if decode_hardware is None and (decode_devices or decode_tp or decode_pp or decode_ep
                                        or decode_replicas != 1):
            raise InputError("--decode-devices, --decode-tp/-pp/-ep and --decode-replicas describe a "
                             "decode pool: name its hardware with --decode-hardware")
        w = _workload(workload, rate, cv, users, think_time, input_len, output_len)
        slo = build(SLO, p50_ttft_s=p50_ttft, p90_ttft_s=p90_ttft, p99_ttft_s=p99_ttft,
                    p50_tpot_s=p50_tpot, p90_tpot_s=p90_tpot, p99_tpot_s=p99_tpot,
                    p50_e2e_s=p50_e2e, p90_e2e_s=p90_e2e, p99_e2e_s=p99_e2e)
        cfg = build(SchedulerConfig, policy=policy, max_num_seqs=max_num_seqs,
                    max_num_batched_tokens=max_num_batched_tokens,
                    chunked_prefill=not no_chunked_prefill, prefill_first=prefill_first,
                    kv_reservation=kv_reservation, block_size=block_size, prefix_caching=prefix_caching, kv_blocks=kv_blocks)
        dep = build(DeploymentSpec, hardware=hardware, devices=devices, tp=tp, pp=pp, ep=ep,
                    precision=precision, kv_precision=kv_precision, engine=engine, threads=threads,
                    offload=offload, host=host, slots=slots,
                    engine_options=parse_engine_options(engine_option or []))
        dec = (build(DeploymentSpec, hardware=decode_hardware, devices=decode_devices, tp=decode_tp,
                     pp=decode_pp, ep=decode_ep, precision=precision, kv_precision=kv_precision,
                     engine=engine)
               if decode_hardware else None)
        res = run_sim(model, dep, w, requests=requests, seed=seed, replicas=replicas,
                      router=router, scheduler=cfg, slo=None if slo.empty() else slo,
                      decode=dec, decode_replicas=decode_replicas, calibration=calibration,
                      hardware_files=tuple(hardware_file or ()), warmup=warmup)
        if json_out:
            exclude = None if timeline else {"metrics": {"timeline"}}
            typer.echo(res.model_dump_json(indent=2, exclude=exclude))
        else:
            from inferplan.cli import render_sim

            render_sim.print_simulation(res)
        from inferplan.sim import outcome_problems

        offered = w.arrivals.rate if w.arrivals.kind in ("poisson", "gamma") else None
        served_none = outcome_problems(res, offered)[0]
        warnings_ = list(res.warnings)
        if prefill_first and not any(p.prefill_first for p in res.pools):
            warnings_.append(f"--prefill-first has no effect under the '{res.pools[0].policy}' "
                             "policy (one request at a time: no decodes to pause)")
        for line in warnings_:
            typer.echo(f"Warning: {line}", err=True)
        if served_none:
            typer.echo(f"Error: {served_none}", err=True)
            raise typer.Exit(1)
        if res.slo_met is False:
            raise typer.Exit(1)

    @app.command()
    def plan(
        model: Annotated[str, typer.Option("--model", "-m", help="Model id(s), comma-separated candidates")],
        rate: Annotated[float, typer.Option("--rate", parser=number("--rate", "rate", unit="req/s"), help="Requests/s to serve")],
        workload: WorkloadOpt = "chat",
        cv: CvOpt = None,
        input_len: InOpt = None,
        output_len: OutOpt = None,
        p50_ttft: P50Ttft = None, p90_ttft: P90Ttft = None, p99_ttft: P99Ttft = None,
        p50_tpot: P50Tpot = None, p90_tpot: P90Tpot = None, p99_tpot: P99Tpot = None,
        p50_e2e: P50E2e = None, p90_e2e: P90E2e = None, p99_e2e: P99E2e = None,
        objective: Annotated[str, typer.Option("--objective", help="cost | devices | energy | latency: what ranks the configurations, each at the fewest replicas that meet the SLOs (latency: the lowest p90 E2E; tighten an SLO to buy latency with replicas)")] = "cost",
        precision: Annotated[str | None, typer.Option("--precision", help="Comma-separated options (native, bf16, fp8, int4, ...)")] = None,
        hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Only these hardware ids (comma-separated)")] = None,
        deny: Annotated[str | None, typer.Option("--deny", help="Never these hardware ids")] = None,
        hw_class: Annotated[str | None, typer.Option("--class", help="Only these classes (gpu,tpu,...)")] = None,
        budget: Annotated[float | None, typer.Option("--budget", parser=number("--budget", 1e9), help="Max $/hour for the whole system")] = None,
        max_devices: Annotated[int, typer.Option("--max-devices", min=1, max=4096, help="Max devices per replica")] = 64,
        max_replicas: Annotated[int, typer.Option("--max-replicas", min=1, max=4096)] = 64,
        disagg: Annotated[bool, typer.Option("--disagg/--no-disagg", help="Also search prefill/decode pools")] = True,
        requests: Annotated[int, typer.Option("--requests", min=1, max=MAX_REQUESTS, help="Fewest requests per simulation")] = 400,
        seed: SeedOpt = 0,
        top: Annotated[int, typer.Option("--top", min=1, max=100, help="Options verified as a whole cluster")] = 5,
        show: Annotated[int, typer.Option("--show", min=0, max=10**6, help="Options printed")] = 10,
        executor: Annotated[str, typer.Option("--executor", help="process | ray | serial")] = "process",
        workers: Annotated[int | None, typer.Option("--workers", min=1, max=1024, help="Parallel workers (default: CPUs)")] = None,
        ray_address: Annotated[str | None, typer.Option("--ray-address", help="Ray cluster address (default: start a local one)")] = None,
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr")] = True,
        offload: OffloadOpt = None,
        host: HostOpt = None,
        slots: SlotsOpt = None,
        engine_option: EngineOptionOpt = None,
        confidence: Annotated[float | None, typer.Option(
            "--confidence", help="Plan at the pessimistic end of each metric's interval at this level, "
                                 "0 to 1 (0.8: SLOs against the high end of the 80% latency intervals, "
                                 "capacity at the low end); default: the point estimates")] = None,
        calibration: CalibOpt = None,
        hardware_file: HwFileOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Cheapest configuration meeting latency SLOs at a rate, across hardware, layouts,
        precisions, replicas and prefill/decode splits, with the reason it wins."""
        from inferplan.catalog.engines import parse_engine_options
        from inferplan.cli import render_sim
        from inferplan.errors import InputError
        from inferplan.inputs import build
        from inferplan.plan import PlanRequest
        from inferplan.plan import plan as run_plan
        from inferplan.sim import SLO

        if objective not in ("cost", "devices", "energy", "latency"):
            raise InputError(f"unknown objective '{objective}' (cost, devices, energy, latency)")
        if confidence is not None:
            from inferplan.perf.intervals import check_level

            try:
                check_level(confidence)
            except InputError as e:
                raise InputError(f"--confidence: {e}") from None
        w = _workload(workload, rate, cv, None, None, input_len, output_len)
        slo = build(SLO, p50_ttft_s=p50_ttft, p90_ttft_s=p90_ttft, p99_ttft_s=p99_ttft,
                    p50_tpot_s=p50_tpot, p90_tpot_s=p90_tpot, p99_tpot_s=p99_tpot,
                    p50_e2e_s=p50_e2e, p90_e2e_s=p90_e2e, p99_e2e_s=p99_e2e)
        req = build(PlanRequest, models=_split(model, "--model") or [], workload=w, rate=rate, slo=slo,
                    objective=objective, precisions=_split(precision, "--precision"),
                    hardware=_split(hardware, "--hardware"), deny=_split(deny, "--deny") or [],
                    classes=_split(hw_class, "--class"),
                    budget_usd_per_hour=budget, max_devices_per_replica=max_devices,
                    max_replicas=max_replicas, disaggregation=disagg, requests=requests,
                    seed=seed, top=top, calibration=calibration,
                    hardware_files=list(hardware_file or ()), offload=offload, host=host,
                    slots=slots, confidence=confidence,
                    engine_options=parse_engine_options(engine_option or []) or None)
        with render_sim.progress_bar(progress) as tick:
            res = run_plan(req, executor=executor, workers=workers, ray_address=ray_address,
                           progress=tick)
        for line in res.warnings:
            typer.echo(f"Warning: {line}", err=True)
        if json_out:
            typer.echo(res.model_dump_json(indent=2))
        else:
            render_sim.print_plan(res, show)
        if not res.options:
            raise typer.Exit(1)

    @app.command()
    def loadtest(
        endpoint: Annotated[str, typer.Option("--endpoint", help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000")],
        workload: WorkloadOpt = "chat",
        rate: RateOpt = None,
        cv: CvOpt = None,
        users: UsersOpt = None,
        think_time: ThinkOpt = None,
        input_len: InOpt = None,
        output_len: OutOpt = None,
        requests: Annotated[int, typer.Option("--requests", "-n", min=1, max=MAX_REQUESTS, help="Most requests to send")] = 50,
        duration_s: Annotated[float, typer.Option("--duration", parser=duration("--duration"), help="Most time to run (300s, 5m)")] = 300.0,
        served_model: Annotated[str, typer.Option("--served-model", help="`model` field of the requests")] = "default",
        model: Annotated[str | None, typer.Option("--model", "-m", help="Simulate alongside: model id or config.json")] = None,
        hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Simulate on this hardware id; 'local' measures this machine")] = None,
        precision: PrecisionOpt = None,
        engine: EngineOpt = None,
        devices: Annotated[int | None, typer.Option("--devices", min=1, max=int(LIMITS["devices"]))] = None,
        threads: ThreadsOpt = None,
        slots: SlotsOpt = None,
        local_only: Annotated[bool, typer.Option("--local-only", help="Refuse endpoints not on this machine")] = False,
        seed: SeedOpt = 0,
        calibration: CalibOpt = None,
        hardware_file: HwFileOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Measure a real server with a workload; print its metrics beside the simulation."""
        from inferplan.loadtest import loadtest as run_lt
        from inferplan.sim import DeploymentSpec

        w = _workload(workload, rate, cv, users, think_time, input_len, output_len)
        hw = None
        note = ""
        dep = None
        if model and hardware:
            if hardware in ("local", "this-machine"):
                from inferplan.loadtest.compare import local_hardware

                hw, note = local_hardware(threads=threads)
                dep = DeploymentSpec(hardware=hw.id, precision=precision, engine=engine,
                                     threads=threads, slots=slots)
            else:
                dep = DeploymentSpec(hardware=hardware, devices=devices, precision=precision,
                                     engine=engine, threads=threads, slots=slots)
                note = f"catalog entry {hardware}"
        res = run_lt(endpoint, w, requests=requests, max_duration_s=duration_s,
                     model_name=served_model, seed=seed, local_only=local_only,
                     sim_model=model if dep else None, sim_deployment=dep, sim_hw=hw,
                     hardware_note=note, calibration=calibration,
                     hardware_files=tuple(hardware_file or ()))
        if json_out:
            typer.echo(res.model_dump_json(indent=2, exclude={"run": {"records": {"__all__": {"token_s"}}}}))
        else:
            from inferplan.cli import render_sim

            render_sim.print_loadtest(res)
        if model and not hardware:
            typer.echo("Warning: --model without --hardware measures only; give -H (or -H local) to "
                       "simulate the same requests alongside", err=True)
        if res.measured.completed == 0:
            raise typer.Exit(1)
