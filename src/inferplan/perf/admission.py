"""How long a newly arrived request waits for its first scheduling chance (engine admission).

Serving engines do not look at their request queue at every step when told not to: SGLang
polls its socket every ``--scheduler-recv-interval`` decode steps and runs
``--num-continuous-decode-steps`` steps back to back; TensorRT-LLM with attention data
parallelism can hold prompts until every rank has one (``attention_dp_config.enable_balance``,
``timeout_iters``) or until enough prompt tokens are queued (``batch_wait_timeout_iters``,
``batch_wait_max_tokens_ratio``). Each knob is a count of decode steps a request waits before
its prompt is scheduled; the estimate adds the mean wait, in decode steps, to the TTFT.
"""

from __future__ import annotations

from inferplan.catalog.schema import Admission


def admission_wait_steps(adm: Admission, running: float, input_len: int, output_len: int,
                         ranks: int, budget_tokens: int) -> float:
    """Mean decode steps a request arriving at a random step waits before its prompt is scheduled.

    - Polling every N steps: the arrival's phase is uniform over the N steps, mean (N - 1) / 2;
      K decode steps back to back likewise (K - 1) / 2.
    - Holding prompts until a threshold with a timeout of T steps: in a closed loop with
      `running` sequences per replica, each emitting one token per step, sequences finish and
      their clients send the next request at lambda = running / output_len per step. Every rank
      holding a prompt takes `ranks` arrivals (ranks / lambda steps); a token threshold of
      ratio x `budget_tokens` takes ratio x budget / (lambda x input_len) steps. The first
      arrival of a wave waits the whole min(T, time to threshold), the last none: mean half.
    """
    wait = (adm.recv_interval_steps - 1) / 2 + (adm.continuous_decode_steps - 1) / 2
    rate = running / max(output_len, 1)  # arrivals per decode step, closed loop
    if rate <= 0:
        return wait
    if adm.adp_balance_timeout_steps > 0 and ranks > 1:
        wait += min(adm.adp_balance_timeout_steps, ranks / rate) / 2
    if adm.batch_wait_timeout_steps > 0 and input_len > 0:
        fill = adm.batch_wait_max_tokens_ratio * budget_tokens / (rate * input_len)
        wait += min(adm.batch_wait_timeout_steps, fill) / 2
    return wait


def admission_note(adm: Admission, steps: float) -> str:
    """The estimate's note on the wait: how long and which knobs cause it."""
    knobs = [("scheduler recv interval", adm.recv_interval_steps, 1),
             ("continuous decode steps", adm.continuous_decode_steps, 1),
             ("attention-DP balance timeout", adm.adp_balance_timeout_steps, 0),
             ("batch wait timeout", adm.batch_wait_timeout_steps, 0)]
    why = ", ".join(f"{name} {v}" for name, v, off in knobs if v != off)
    return f"a new request waits {steps:.1f} decode steps on average before its prompt is scheduled ({why})"
